import Foundation

/// LiTS: `volume-N.nii` with `segmentation-N.nii` (N = 0...130), possibly split into the
/// download's "Training Batch 1/2" subfolders; one CT channel, labels 1 liver, 2 tumour.
public struct LiTSLayout: DatasetLayout {
    public let folder: URL

    public init(folder: URL) { self.folder = folder }

    public var layoutName: String { "lits" }
    public var modalities: [String] { ["CT"] }
    public var labelConvention: LabelConvention { .lits }

    /// The folder and its direct subfolders (the batches).
    func candidateFiles() -> [URL] {
        let top = sortedContents(folder)
        return top + top.filter(isDirectory).flatMap(sortedContents)
    }

    static func number(_ name: String, prefix: String) -> Int? {
        guard let stem = stemOfNIfTI(name), stem.hasPrefix(prefix) else { return nil }
        return Int(stem.dropFirst(prefix.count))
    }

    public func scan() -> (cases: [DatasetCase], problems: [DatasetProblem]) {
        var volumes = [Int: URL](), segmentations = [Int: URL]()
        for url in candidateFiles() {
            let name = url.lastPathComponent
            if let n = Self.number(name, prefix: "volume-") { volumes[n] = url }
            if let n = Self.number(name, prefix: "segmentation-") { segmentations[n] = url }
        }
        var problems = [DatasetProblem]()
        for (n, url) in segmentations.sorted(by: { $0.key < $1.key }) where volumes[n] == nil {
            problems.append(DatasetProblem(caseID: "volume-\(n)", file: url.deletingLastPathComponent()
                .appendingPathComponent("volume-\(n).nii").path,
                problem: "missing modality CT (segmentation-\(n) has no volume-\(n))"))
        }
        let cases = volumes.sorted { $0.key < $1.key }.map { n, url in
            DatasetCase(id: "volume-\(n)", channels: [DatasetChannel(modality: "CT", file: url)],
                        labelFile: segmentations[n], labelConvention: .lits)
        }
        return (cases, problems)
    }
}
