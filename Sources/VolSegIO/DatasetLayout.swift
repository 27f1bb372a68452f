import Foundation

/// A dataset folder in one of the layouts users download (BraTS, MSD, LiTS, nnU-Net raw): it
/// lists its cases with their channel files in the model's modality order, so the rest of VolSeg
/// never looks at file names. `DatasetDetector.detect` picks the layout from the folder.
public protocol DatasetLayout: Sendable {
    /// The layout's name in `volseg info DIR`: brats2021 (also BraTS 2020), brats2023, msd, lits, nnunet.
    var layoutName: String { get }
    var folder: URL { get }
    /// Modality names in channel order (BraTS: T1, T1ce, T2, FLAIR; CT: CT).
    var modalities: [String] { get }
    var labelConvention: LabelConvention { get }
    /// The cases found, and the problems found while listing them (missing modality, malformed
    /// dataset.json). File contents are not read here; `DatasetReport` checks headers.
    func scan() -> (cases: [DatasetCase], problems: [DatasetProblem])
}

/// One input channel: a file, and for a 4D file (MSD Task01) the volume inside it.
public struct DatasetChannel: Equatable, Sendable {
    public let modality: String
    public let file: URL
    /// Index along the file's 4th dimension, or nil for a 3D file.
    public let volume: Int?

    public init(modality: String, file: URL, volume: Int? = nil) {
        self.modality = modality
        self.file = file
        self.volume = volume
    }
}

/// A case: its id, channels in the layout's modality order, and its label map if it has one.
public struct DatasetCase: Equatable, Sendable {
    public let id: String
    public let channels: [DatasetChannel]
    public let labelFile: URL?
    public let labelConvention: LabelConvention

    public init(id: String, channels: [DatasetChannel], labelFile: URL?, labelConvention: LabelConvention) {
        self.id = id
        self.channels = channels
        self.labelFile = labelFile
        self.labelConvention = labelConvention
    }

    /// The distinct files of the case: channel files (a 4D file once), then the label file.
    public var files: [URL] {
        var seen = Set<URL>(), out = [URL]()
        for url in channels.map(\.file) + [labelFile].compactMap({ $0 }) where seen.insert(url).inserted {
            out.append(url)
        }
        return out
    }
}

/// Something wrong with a dataset: which case (nil for the whole dataset), which file, what.
public struct DatasetProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public let caseID: String?
    public let file: String
    public let problem: String

    public init(caseID: String?, file: String, problem: String) {
        self.caseID = caseID
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(caseID.map { "case \($0): " } ?? "")\(file): \(problem)" }
}

/// The one BraTS channel order for every release (nnU-Net's), so a model trained on one release
/// segments the others: T1, T1ce (T1 with gadolinium), T2, FLAIR.
public enum BraTSModality {
    public static let order = ["T1", "T1ce", "T2", "FLAIR"]

    /// The BraTS modality a name in some layout's metadata means ("t1gd", "T1w", "t2f", "Flair"),
    /// or nil when it is not one of the four.
    public static func canonicalName(_ name: String) -> String? {
        switch name.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "") {
        case "t1", "t1w", "t1n", "native t1", "t1native": return "T1"
        case "t1ce", "t1c", "t1gd", "t1w+c", "t1post", "t1contrast": return "T1ce"
        case "t2", "t2w": return "T2"
        case "flair", "t2f", "t2flair": return "FLAIR"
        default: return nil
        }
    }

    /// For metadata names in file order, the file index of each BraTS-order channel, when the
    /// names are exactly the four BraTS modalities (MSD Task01: FLAIR, T1w, T1gd, T2w -> [1, 2, 3, 0]).
    public static func reordering(_ names: [String]) -> [Int]? {
        let canonical = names.map(canonicalName)
        guard canonical.count == 4, Set(canonical.compactMap { $0 }) == Set(order) else { return nil }
        return order.map { m in canonical.firstIndex(of: m)! }
    }
}

/// Files of a folder, sorted by name (hidden files skipped); empty when the folder cannot be read.
func sortedContents(_ folder: URL) -> [URL] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0) }
}

func isDirectory(_ url: URL) -> Bool {
    var flag: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &flag) && flag.boolValue
}

/// A file name without its NIfTI extension (.nii, .nii.gz, .hdr, .img).
func stemOfNIfTI(_ name: String) -> String? {
    for ext in [".nii.gz", ".nii", ".hdr.gz", ".hdr", ".img.gz", ".img"] where name.hasSuffix(ext) {
        return String(name.dropLast(ext.count))
    }
    return nil
}
