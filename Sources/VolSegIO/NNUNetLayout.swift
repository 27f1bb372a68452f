import Foundation

/// nnU-Net v2 raw data: `DatasetXXX_Name/dataset.json` (channel_names, labels, numTraining,
/// file_ending), `imagesTr/CASE_0000.nii.gz` ... one file per channel, `labelsTr/CASE.nii.gz`.
/// BraTS channel names in another order are handed out in the BraTS order (T1, T1ce, T2, FLAIR).
public struct NNUNetLayout: DatasetLayout {
    public let folder: URL
    public let modalities: [String]
    public let labelConvention: LabelConvention
    /// For each channel in `modalities` order, the file's channel number (CASE_XXXX).
    let channelNumber: [Int]
    let fileEnding: String
    let json: DatasetJSON?
    let loadProblem: DatasetProblem?

    public var layoutName: String { "nnunet" }

    public init(folder: URL) {
        self.folder = folder
        var modalities = ["image"], channelNumber = [0], ending = ".nii.gz"
        var convention = LabelConvention(name: "nnunet", labels: [0: "background"], regions: [])
        var json: DatasetJSON?, loadProblem: DatasetProblem?
        switch DatasetJSON.load(folder) {
        case .failure(let problem): loadProblem = problem
        case .success(let parsed):
            json = parsed
            do {
                // nnU-Net v1 wrote "modality" like the MSD; v2 writes "channel_names".
                let names = try parsed.indexedNames(parsed.object["channel_names"] != nil ? "channel_names" : "modality")
                if let order = BraTSModality.reordering(names) {
                    modalities = BraTSModality.order
                    channelNumber = order
                } else {
                    modalities = names
                    channelNumber = Array(0..<names.count)
                }
                if let e = parsed.object["file_ending"] { ending = (e as? String) ?? ending }
                convention = try NNUNetLayout.convention(parsed, name: "nnunet")
            } catch DatasetJSON.Failure.malformed(let text) {
                loadProblem = parsed.problem(text)
            } catch {
                loadProblem = parsed.problem("\(error)")
            }
        }
        self.modalities = modalities
        self.channelNumber = channelNumber
        self.fileEnding = ending
        self.labelConvention = convention
        self.json = json
        self.loadProblem = loadProblem
    }

    /// "labels": {"background": 0, "edema": 1, "whole tumor": [1, 2, 3]}: numbers are labels,
    /// lists are nnU-Net regions.
    static func convention(_ json: DatasetJSON, name: String) throws -> LabelConvention {
        guard let table = json.object["labels"] as? [String: Any], !table.isEmpty else {
            throw DatasetJSON.Failure.malformed("\"labels\" is missing or not an object of name -> value")
        }
        var labels = [Int: String](), regions = [(name: String, labels: Set<Int>)]()
        for (labelName, value) in table.sorted(by: { $0.key < $1.key }) {
            if let v = value as? Int { labels[v] = labelName }
            else if let list = value as? [Int] { regions.append((labelName, Set(list))) }
            else { throw DatasetJSON.Failure.malformed("label \"\(labelName)\": \(value) is neither a number nor a list") }
        }
        regions.sort { $0.labels.count > $1.labels.count || ($0.labels.count == $1.labels.count && $0.name < $1.name) }
        return LabelConvention(name: name, labels: labels, regions: regions)
    }

    public func scan() -> (cases: [DatasetCase], problems: [DatasetProblem]) {
        if let loadProblem { return ([], [loadProblem]) }
        let images = folder.appendingPathComponent("imagesTr"), labels = folder.appendingPathComponent("labelsTr")
        var byCase = [String: [Int: URL]]()
        for url in sortedContents(images) {
            let name = url.lastPathComponent
            guard name.hasSuffix(fileEnding) else { continue }
            let stem = name.dropLast(fileEnding.count)
            guard stem.count > 5, stem.dropLast(4).hasSuffix("_"), let channel = Int(stem.suffix(4)) else { continue }
            byCase[String(stem.dropLast(5)), default: [:]][channel] = url
        }
        var cases = [DatasetCase](), problems = [DatasetProblem]()
        for (id, files) in byCase.sorted(by: { $0.key < $1.key }) {
            var channels = [DatasetChannel]()
            for (modality, number) in zip(modalities, channelNumber) {
                if let url = files[number] {
                    channels.append(DatasetChannel(modality: modality, file: url))
                } else {
                    problems.append(DatasetProblem(caseID: id, file: images.appendingPathComponent(
                        id + String(format: "_%04d", number) + fileEnding).path, problem: "missing modality \(modality)"))
                }
            }
            let label = labels.appendingPathComponent(id + fileEnding)
            let hasLabel = FileManager.default.fileExists(atPath: label.path)
            if !hasLabel {
                problems.append(DatasetProblem(caseID: id, file: label.path, problem: "missing label file in labelsTr"))
            }
            if channels.count == modalities.count {
                cases.append(DatasetCase(id: id, channels: channels, labelFile: hasLabel ? label : nil,
                                         labelConvention: labelConvention))
            }
        }
        if let json, let count = json.int("numTraining"), count != byCase.count {
            problems.append(json.problem("numTraining is \(count) but imagesTr holds \(byCase.count) cases"))
        }
        return (cases, problems)
    }
}
