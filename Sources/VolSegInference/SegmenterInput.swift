import Foundation
import VolSegCore
import VolSegIO

/// Turns what a user names on the command line into the image a `Segmenter` takes: channel
/// files in the model's modality order, or a case folder whose files are matched to modalities.
public enum SegmenterInput {
    /// One 3D file per channel, in the model's modality order, read into one [C, D, H, W] volume
    /// with the first file's header. Every file must exist, be 3D with one volume, and lie on the
    /// first file's grid; errors name the file.
    public static func readChannels(_ files: [URL], modalities: [String]) throws -> NIfTIVolume {
        guard let first = files.first else {
            throw SegmentationInputError.noInputFile
        }
        guard files.count == modalities.count else {
            throw SegmentationInputError.channelFileCount(path: first.path, files: files.map(\.lastPathComponent), modalities: modalities)
        }
        for file in files {
            _ = try NIfTIReader.readHeader(file)   // every file's existence and header before any voxel is read
        }
        var stacked: Tensor?, reference: (header: NIfTIHeader, path: String)?
        for (c, file) in files.enumerated() {
            let volume = try NIfTIReader.read(file)
            try volume.requireThreeDimensional()
            guard volume.channels == 1 else {
                throw SegmentationInputError.multipleVolumes(path: file.path, volumes: volume.channels, modalities: modalities)
            }
            if let reference, reference.header.spatialShape != volume.header.spatialShape {
                throw NIfTIError.shapeMismatch(path: file.path, shape: volume.header.spatialShape,
                                               expected: reference.header.spatialShape, reference: reference.path)
            }
            if files.count == 1 { return volume }
            if reference == nil { reference = (volume.header, volume.path) }
            if stacked == nil { stacked = Tensor.empty([files.count] + volume.spatialShape) }
            // Copied in one at a time: no more than one channel file is held besides the stack.
            (stacked!.data + c * volume.voxels.count).update(from: volume.voxels.data, count: volume.voxels.count)
        }
        return NIfTIVolume(header: reference!.header, voxels: stacked!, path: reference!.path)
    }

    /// The channel files of a case folder in the model's modality order, and the case id (the
    /// folder's name). A folder that is a case of a known layout (a BraTS case folder) uses the
    /// layout's names; otherwise files are matched by the modality at the end of their name
    /// (`_t1ce`, `-t2f`, `_0000` for channel 0), or the one image file for a one-channel model.
    public static func caseFiles(in folder: URL, modalities: [String]) throws -> (id: String, files: [URL]) {
        let id = folder.standardizedFileURL.lastPathComponent
        if let layout = try? DatasetDetector.detect(folder.deletingLastPathComponent()),
           let found = layout.scan().cases.first(where: { $0.id == id }),
           found.channels.count == modalities.count, found.channels.allSatisfy({ $0.volume == nil }) {
            return (id, found.channels.map(\.file))
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        let images = names.compactMap { name -> (file: URL, stem: String)? in
            guard let stem = NIfTIFileName.stem(name), !NIfTIFileName.isLabelName(stem) else { return nil }
            return (folder.appendingPathComponent(name), stem)
        }
        if modalities.count == 1 && images.count == 1 { return (id, [images[0].file]) }
        var files: [URL] = []
        for (index, modality) in modalities.enumerated() {
            let matches = images.filter { matchesModality(stem: $0.stem, modality: modality, index: index) }
            guard matches.count == 1 else {
                throw SegmentationInputError.modalityFiles(folder: folder.path, modality: modality, channel: index,
                                                           matches: matches.map(\.file.lastPathComponent),
                                                           images: images.map(\.file.lastPathComponent), modalities: modalities)
            }
            files.append(matches[0].file)
        }
        return (id, files)
    }

    static func matchesModality(stem: String, modality: String, index: Int) -> Bool {
        let token = NIfTIFileName.lastToken(stem.lowercased())
        if token == String(format: "%04d", index) { return true }
        if token == modality.lowercased() { return true }
        if let a = BraTSModality.canonicalName(token), let b = BraTSModality.canonicalName(modality) { return a == b }
        return false
    }
}
