import Foundation
import VolSegCore
import VolSegIO
import VolSegInference
import VolSegPreprocessing

/// The unlabeled target scans an adaptation reads: a detected dataset layout (every case's image
/// channels), a folder of NIfTI images (one image per file, single-channel models), or image files
/// (single-channel: each file one scan; multi-channel: the files are one case's channels in the
/// model's modality order). Label files are never read.
public struct AdaptationTarget {
    /// Per scan: its files (for provenance) and how to read it.
    public let scans: [(name: String, files: [URL], read: () throws -> NIfTIVolume)]

    public var files: [URL] { scans.flatMap(\.files) }

    public static func find(_ paths: [URL], modalities: [String]) throws -> AdaptationTarget {
        guard let first = paths.first else {
            throw AdaptationError.noTarget
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: first.path, isDirectory: &isFolder) else {
            throw AdaptationError.missingTarget(path: first.path)
        }
        var scans: [(String, [URL], () throws -> NIfTIVolume)] = []
        if paths.count == 1 && isFolder.boolValue {
            if let layout = try? DatasetDetector.detect(first), case let cases = layout.scan().cases, !cases.isEmpty {
                guard layout.modalities.count == modalities.count else {
                    throw AdaptationError.channelMismatch(path: first.path, layout: layout.layoutName,
                                                          datasetModalities: layout.modalities, modalities: modalities)
                }
                scans = cases.map { c in (c.id, c.channels.map(\.file), { try c.loadImage() }) }
            } else {
                guard modalities.count == 1 else {
                    throw AdaptationError.plainFolderForMultiChannel(path: first.path, modalities: modalities)
                }
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: first.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
                for name in names {
                    guard let stem = NIfTIFileName.stem(name), !NIfTIFileName.isLabelName(stem) else { continue }
                    let file = first.appendingPathComponent(name)
                    scans.append((stem, [file], { try NIfTIReader.read(file) }))
                }
            }
        } else if modalities.count == 1 {
            for file in paths { scans.append((file.lastPathComponent, [file], { try SegmenterInput.readChannels([file], modalities: modalities) })) }
        } else {
            scans = [(first.lastPathComponent, paths, { try SegmenterInput.readChannels(paths, modalities: modalities) })]
        }
        guard !scans.isEmpty else {
            throw AdaptationError.noTargetImages(folder: first.path)
        }
        for scan in scans { for file in scan.1 { _ = try NIfTIReader.readHeader(file) } }
        return AdaptationTarget(scans: scans.map { (name: $0.0, files: $0.1, read: $0.2) })
    }

    /// Every scan preprocessed as the model's config says, [C, D, H, W] each.
    public func preprocessed(with preprocessor: Preprocessor) throws -> [Tensor] {
        try scans.map { try preprocessor.prepare(try $0.read()).image }
    }
}
