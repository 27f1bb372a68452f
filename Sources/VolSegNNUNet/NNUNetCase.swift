import Foundation
import VolSegCore
import VolSegIO

/// One nnU-Net input case: its channel files `CASE_0000<ending>`, `CASE_0001<ending>`, ... read as
/// the plans' image reader reads them.
public struct NNUNetCase {
    public let name: String
    public let files: [URL]
    /// The channels already read, [C, z, y, x] (a DICOM series, which has no file per channel);
    /// `files` then names the folders they came from.
    public let image: NIfTIVolume?

    public init(name: String, files: [URL], image: NIfTIVolume? = nil) {
        self.name = name
        self.files = files
        self.image = image
    }

    /// The cases of an nnU-Net input folder: files named `CASE_XXXX<ending>`, grouped by CASE, each
    /// needing every channel 0 ..< `channels`.
    public static func cases(in folder: URL, fileEnding: String, channels: Int) throws -> [NNUNetCase] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var byCase: [String: [Int: URL]] = [:]
        for name in names where name.hasSuffix(fileEnding) {
            let stem = String(name.dropLast(fileEnding.count))
            guard stem.count > 5, stem.dropLast(4).last == "_", let channel = Int(stem.suffix(4)) else { continue }
            byCase[String(stem.dropLast(5)), default: [:]][channel] = folder.appendingPathComponent(name)
        }
        guard !byCase.isEmpty else {
            throw NNUNetError.inputs(path: folder.path, problem: "holds no nnU-Net input files (CASE_0000\(fileEnding), ...)")
        }
        return try byCase.keys.sorted().map { name in
            let found = byCase[name]!
            let files = try (0..<channels).map { channel -> URL in
                guard let url = found[channel] else {
                    throw NNUNetError.inputs(path: folder.appendingPathComponent(String(format: "%@_%04d%@", name, channel, fileEnding)).path,
                                             problem: "missing: the model takes \(channels) channel(s)")
                }
                return url
            }
            if let extra = found.keys.filter({ $0 >= channels }).min() {
                throw NNUNetError.inputs(path: found[extra]!.path, problem: "channel \(extra) is more than the model's \(channels)")
            }
            return NNUNetCase(name: name, files: files)
        }
    }

    /// The channels stacked as [C, z, y, x], the spacing (z, y, x), and the first channel's header
    /// (the output's geometry), as the plans' reader gives them. SimpleITKIO and NibabelIO: file
    /// voxel order, the spacing from pixdim. NibabelIOWithReorient: reoriented to RAS by axis
    /// permutations and flips (nibabel's `as_reoriented(io_orientation(affine))`), the spacing
    /// that grid's, and `orientation` to undo it. Non-finite voxels become 0 (nnU-Net's reader
    /// would pass them to the network) and are counted.
    public func read(with reader: NNUNetPlans.ImageReader = .simpleITK) throws
        -> (image: Tensor, spacing: [Double], header: NIfTIHeader, nonFinite: Int, orientation: CanonicalOrientation?) {
        if let image {
            let (volume, replaced) = image.replacingNonFinite(with: 0)
            return arranged(volume.voxels, header: volume.header, replaced: replaced, reader: reader)
        }
        var volumes: [NIfTIVolume] = []
        var replaced = 0
        for file in files {
            let (volume, count) = try NIfTIReader.read(file).replacingNonFinite(with: 0)
            guard volume.channels == 1 else {
                throw NNUNetError.inputs(path: file.path, problem: "holds \(volume.channels) volumes; nnU-Net takes one 3D image per channel file")
            }
            if let first = volumes.first { try volume.requireSameGrid(as: first) }
            replaced += count
            volumes.append(volume)
        }
        let header = volumes[0].header
        let shape = volumes[0].spatialShape, volume = shape.reduce(1, *)
        let stacked = Tensor.empty([volumes.count] + shape)
        for (c, v) in volumes.enumerated() { (stacked.data + c * volume).update(from: v.voxels.data, count: volume) }
        volumes = []
        return arranged(stacked, header: header, replaced: replaced, reader: reader)
    }

    /// The stacked channels, reoriented as `reader` does, with their spacing (z, y, x).
    func arranged(_ stacked: Tensor, header: NIfTIHeader, replaced: Int, reader: NNUNetPlans.ImageReader)
        -> (image: Tensor, spacing: [Double], header: NIfTIHeader, nonFinite: Int, orientation: CanonicalOrientation?) {
        var image = stacked
        let sizes = (1...3).map { abs(header.pixdim[$0]) }
        guard reader == .nibabelReoriented else { return (image, [sizes[2], sizes[1], sizes[0]], header, replaced, nil) }
        let orientation = CanonicalOrientation(header: header)
        let spacing = orientation.canonicalSpacing
        if orientation.isIdentity { return (image, [spacing[2], spacing[1], spacing[0]], header, replaced, nil) }
        image = orientation.toCanonical(image)
        return (image, [spacing[2], spacing[1], spacing[0]], header, replaced, orientation)
    }
}
