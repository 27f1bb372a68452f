import Foundation
import VolSegCore
import VolSegIO

/// A copy of a dataset folder as another scanner would have given it: every file is copied, then
/// every case's image channels are replaced by their `ScannerShift`ed values (label maps and every
/// other file stay as they were). The adaptation demonstrations and users' robustness checks use it
/// (`volseg shift`).
///
/// The shift applies to a case's channels together ([C, D, H, W] in the layout's modality order),
/// so per-channel gammas follow the modalities. Written into `<out>.partial` and renamed at the end:
/// a failure leaves no output folder.
public enum ScannerShiftedDataset {
    /// Returns the image files rewritten (in `out`).
    @discardableResult
    public static func write(from folder: URL, to out: URL, shift: ScannerShift) throws -> [URL] {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: out.path) else {
            throw DatasetWriteError.outputExists(path: out.path)
        }
        let source = folder.standardizedFileURL.resolvingSymlinksInPath().path
        let target = out.deletingLastPathComponent().standardizedFileURL.resolvingSymlinksInPath().path
        guard target != source && !target.hasPrefix(source + "/") else {
            throw DatasetWriteError.outputInsideDataset(path: out.path, dataset: folder.path)
        }
        let layout = try DatasetDetector.detect(folder)
        let cases = layout.scan().cases
        guard !cases.isEmpty else {
            throw DatasetWriteError.noCases(folder: folder.path, layout: layout.layoutName)
        }
        let partial = out.deletingLastPathComponent().appendingPathComponent(out.lastPathComponent + ".partial")
        try? fm.removeItem(at: partial)
        try fm.copyItem(at: folder, to: partial)
        var written: [URL] = []
        do {
            for item in cases {
                let image = try item.loadImage()
                let shifted = shift.apply(image.voxels)
                // Channels grouped by file: a 3D file holds one, an MSD 4D file several (in volume order).
                var byFile: [(file: URL, channels: [(index: Int, volume: Int)])] = []
                for (c, channel) in item.channels.enumerated() {
                    let entry = (c, channel.volume ?? 0)
                    if let k = byFile.firstIndex(where: { $0.file == channel.file }) { byFile[k].channels.append(entry) }
                    else { byFile.append((channel.file, [entry])) }
                }
                for (file, channels) in byFile {
                    let ordered = channels.sorted { $0.volume < $1.volume }.map { shifted.slice(axis: 0, $0.index..<($0.index + 1)) }
                    let values = ordered.count == 1 ? ordered[0] : Tensor.concat(ordered, axis: 0)
                    let relative = try relativePath(of: file, inResolved: source, folder: folder)
                    let target = partial.appendingPathComponent(relative)
                    try fm.removeItem(at: target)
                    try NIfTIWriter.writeFloatMap(values, like: image.header, to: target)
                    written.append(out.appendingPathComponent(relative))
                }
            }
            try fm.moveItem(at: partial, to: out)
        } catch {
            try? fm.removeItem(at: partial)
            throw error
        }
        return written
    }

    /// `file`'s path below `base` (the dataset folder's resolved path).
    static func relativePath(of file: URL, inResolved base: String, folder: URL) throws -> String {
        let path = file.standardizedFileURL.resolvingSymlinksInPath().path
        guard path.hasPrefix(base + "/") else {
            throw DatasetWriteError.fileOutsideDataset(path: file.path, dataset: folder.path)
        }
        return String(path.dropFirst(base.count + 1))
    }
}

/// A dataset could not be written; names the path.
public enum DatasetWriteError: Error, Equatable, CustomStringConvertible {
    case outputExists(path: String)
    /// The output folder would be inside the dataset it is written from.
    case outputInsideDataset(path: String, dataset: String)
    case noCases(folder: String, layout: String)
    /// A case file that resolves (through a link) outside its dataset folder.
    case fileOutsideDataset(path: String, dataset: String)

    public var path: String {
        switch self {
        case .outputExists(let p), .outputInsideDataset(let p, _), .noCases(let p, _), .fileOutsideDataset(let p, _): return p
        }
    }

    public var problem: String {
        switch self {
        case .outputExists: return "already exists; choose a new output folder"
        case .outputInsideDataset(_, let dataset): return "lies inside the dataset folder \(dataset); choose a folder outside it"
        case .noCases(_, let layout): return "a \(layout) folder without cases: nothing to shift"
        case .fileOutsideDataset(_, let dataset): return "lies outside the dataset folder \(dataset)"
        }
    }

    public var description: String { "\(path): \(problem)" }
}
