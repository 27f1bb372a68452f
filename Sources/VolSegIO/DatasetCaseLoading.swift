import Foundation
import VolSegCore

extension DatasetCase {
    /// The case's image as [C, D, H, W] in the layout's modality order, with the header of its first
    /// channel file (the grid predictions are written on). Channels must share one grid.
    public func loadImage() throws -> NIfTIVolume {
        var cache = [URL: NIfTIVolume]()
        var pieces = [Tensor](), reference: NIfTIVolume?
        for channel in channels {
            let volume = try cache[channel.file] ?? NIfTIReader.read(channel.file)
            cache[channel.file] = volume
            try volume.requireThreeDimensional()
            if let reference { try volume.requireSameGrid(as: reference) } else { reference = volume }
            let index = channel.volume ?? 0
            guard index < volume.channels, channel.volume != nil || volume.channels == 1 else {
                throw NIfTIError.invalidDimensions(path: channel.file.path, reason:
                    "\(volume.channels) volumes, channel \(channel.modality) needs " + (channel.volume == nil ? "a 3D file" : "volume \(index + 1)"))
            }
            pieces.append(volume.voxels.slice(axis: 0, index..<(index + 1)))
        }
        let stacked = pieces.count == 1 ? pieces[0] : Tensor.concat(pieces, axis: 0)
        return NIfTIVolume(header: reference!.header, voxels: stacked, path: reference!.path)
    }

    /// The label map as [1, D, H, W], checked to lie on `image`'s grid; nil when the case has none.
    public func loadLabel(matching image: NIfTIVolume) throws -> NIfTIVolume? {
        guard let labelFile else { return nil }
        let label = try NIfTIReader.read(labelFile)
        try label.requireSameGrid(as: image)
        if label.channels != 1 {
            throw NIfTIError.invalidDimensions(path: labelFile.path, reason: "a label map has one volume, this file has \(label.channels)")
        }
        return label
    }
}
