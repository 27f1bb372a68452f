import Foundation

/// BraTS challenge folders: one subfolder per case holding one file per modality and `seg`.
///
/// - 2020/2021 (`brats2021`): `BraTS20_Training_001/BraTS20_Training_001_{t1,t1ce,t2,flair,seg}.nii`,
///   `BraTS2021_00000/BraTS2021_00000_{...}.nii.gz`; labels 1, 2, 4. Both releases share names and
///   labels, so they are one layout (reported as brats2021).
/// - 2023 (`brats2023`): `BraTS-GLI-00000-000/BraTS-GLI-00000-000-{t1n,t1c,t2w,t2f,seg}.nii.gz`;
///   labels 1, 2, 3.
/// Channels always come in `BraTSModality.order` (T1, T1ce, T2, FLAIR).
public struct BraTSLayout: DatasetLayout {
    public enum Release: String, Sendable { case brats2021, brats2023 }

    public let folder: URL
    public let release: Release

    public init(folder: URL, release: Release) {
        self.folder = folder
        self.release = release
    }

    public var layoutName: String { release.rawValue }
    public var modalities: [String] { BraTSModality.order }
    public var labelConvention: LabelConvention { release == .brats2021 ? .brats2021 : .brats2023 }

    /// File-name suffixes for T1, T1ce, T2, FLAIR and the label.
    var suffixes: (channels: [String], label: String) {
        switch release {
        case .brats2021: return (["_t1", "_t1ce", "_t2", "_flair"], "_seg")
        case .brats2023: return (["-t1n", "-t1c", "-t2w", "-t2f"], "-seg")
        }
    }

    /// Whether a case folder name belongs to a release.
    static func release(ofCaseFolder name: String) -> Release? {
        if name.range(of: #"^BraTS(20_[A-Za-z]+_\d+|2021_\d+)$"#, options: .regularExpression) != nil { return .brats2021 }
        if name.range(of: #"^BraTS-[A-Z]+-\d+-\d+$"#, options: .regularExpression) != nil { return .brats2023 }
        return nil
    }

    public func scan() -> (cases: [DatasetCase], problems: [DatasetProblem]) {
        var cases = [DatasetCase](), problems = [DatasetProblem]()
        let caseFolders = sortedContents(folder).filter { isDirectory($0) && Self.release(ofCaseFolder: $0.lastPathComponent) == release }
        for caseFolder in caseFolders {
            let id = caseFolder.lastPathComponent
            let files = sortedContents(caseFolder).filter { stemOfNIfTI($0.lastPathComponent) != nil }
            func file(withSuffix suffix: String) -> URL? {
                files.first { stemOfNIfTI($0.lastPathComponent)!.lowercased().hasSuffix(suffix) }
            }
            var channels = [DatasetChannel]()
            for (modality, suffix) in zip(modalities, suffixes.channels) {
                if let url = file(withSuffix: suffix) {
                    channels.append(DatasetChannel(modality: modality, file: url))
                } else {
                    problems.append(DatasetProblem(caseID: id, file: caseFolder.appendingPathComponent(id + suffix + ".nii.gz").path,
                                                   problem: "missing modality \(modality) (no file ending in \(suffix).nii or \(suffix).nii.gz)"))
                }
            }
            // BraTS20_Training_355 ships its label as W39_1998.09.19_Segm.nii: accept one other
            // file with "seg" in its name when the usual one is absent.
            let channelFiles = Set(channels.map(\.file))
            let label = file(withSuffix: suffixes.label)
                ?? files.filter { !channelFiles.contains($0) && $0.lastPathComponent.lowercased().contains("seg") }.first
            if channels.count == modalities.count {
                cases.append(DatasetCase(id: id, channels: channels, labelFile: label, labelConvention: labelConvention))
            }
        }
        return (cases, problems)
    }
}
