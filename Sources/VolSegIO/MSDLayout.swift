import Foundation

/// A Medical Segmentation Decathlon task: `dataset.json` (modality, labels, training list),
/// `imagesTr/`, `labelsTr/`. Task01_BrainTumour stores the four MRI channels in one 4D file in the
/// order FLAIR, T1w, T1gd, T2w; they are handed out in the BraTS order (T1, T1ce, T2, FLAIR).
/// Task03_Liver is CT with the LiTS labels.
public struct MSDLayout: DatasetLayout {
    public let folder: URL
    public let modalities: [String]
    public let labelConvention: LabelConvention
    /// For each channel in `modalities` order, the volume index inside the 4D file (nil for 3D).
    let volumeIndex: [Int?]
    let json: DatasetJSON?
    let loadProblem: DatasetProblem?

    public var layoutName: String { "msd" }

    public init(folder: URL) {
        self.folder = folder
        var modalities = ["image"], volumeIndex: [Int?] = [nil], convention = LabelConvention.lits
        var json: DatasetJSON?, loadProblem: DatasetProblem?
        switch DatasetJSON.load(folder) {
        case .failure(let problem): loadProblem = problem
        case .success(let parsed):
            json = parsed
            do {
                let names = try parsed.indexedNames("modality")
                let labels = try parsed.indexedNames("labels")
                if let order = BraTSModality.reordering(names) {
                    modalities = BraTSModality.order
                    volumeIndex = order
                } else {
                    modalities = names
                    volumeIndex = names.count == 1 ? [nil] : Array(0..<names.count)
                }
                convention = MSDLayout.convention(modalities: modalities, labels: labels, taskName: folder.lastPathComponent)
                if !(parsed.object["training"] is [[String: Any]]) {
                    loadProblem = parsed.problem("\"training\" is missing or not a list of {image, label}")
                }
            } catch DatasetJSON.Failure.malformed(let text) {
                loadProblem = parsed.problem(text)
            } catch {
                loadProblem = parsed.problem("\(error)")
            }
        }
        self.modalities = modalities
        self.volumeIndex = volumeIndex
        self.labelConvention = convention
        self.json = json
        self.loadProblem = loadProblem
    }

    static func convention(modalities: [String], labels: [String], taskName: String) -> LabelConvention {
        if modalities == BraTSModality.order && labels.count == 4 { return .msdBrain }
        let lowered = labels.map { $0.lowercased() }
        if modalities.count == 1 && lowered.count == 3 && lowered[1] == "liver" { return .lits }
        var table = [Int: String]()
        for (i, name) in labels.enumerated() { table[i] = name }
        return LabelConvention(name: "msd-" + taskName.lowercased(), labels: table,
                               regions: labels.indices.dropFirst().map { (labels[$0], [$0]) })
    }

    public func scan() -> (cases: [DatasetCase], problems: [DatasetProblem]) {
        if let loadProblem { return ([], [loadProblem]) }
        guard let json, let training = json.object["training"] as? [[String: Any]] else { return ([], []) }
        var cases = [DatasetCase](), problems = [DatasetProblem]()
        for (n, entry) in training.enumerated() {
            guard let image = entry["image"] as? String else {
                problems.append(json.problem("training entry \(n) has no \"image\""))
                continue
            }
            let imageURL = folder.appendingPathComponent(image).standardizedFileURL
            let id = stemOfNIfTI(imageURL.lastPathComponent) ?? imageURL.lastPathComponent
            let labelURL = (entry["label"] as? String).map { folder.appendingPathComponent($0).standardizedFileURL }
            guard FileManager.default.fileExists(atPath: imageURL.path) else {
                problems.append(DatasetProblem(caseID: id, file: imageURL.path, problem: "missing image file listed in dataset.json"))
                continue
            }
            if let labelURL, !FileManager.default.fileExists(atPath: labelURL.path) {
                problems.append(DatasetProblem(caseID: id, file: labelURL.path, problem: "missing label file listed in dataset.json"))
            }
            let channels = zip(modalities, volumeIndex).map { DatasetChannel(modality: $0, file: imageURL, volume: $1) }
            cases.append(DatasetCase(id: id, channels: channels, labelFile: labelURL, labelConvention: labelConvention))
        }
        if let count = json.int("numTraining"), count != training.count {
            problems.append(json.problem("numTraining is \(count) but \"training\" lists \(training.count) cases"))
        }
        return (cases, problems)
    }
}
