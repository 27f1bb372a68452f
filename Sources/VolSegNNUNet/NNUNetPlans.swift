import Foundation

/// An nnU-Net v2 `plans.json`: the axis transposition, the image reader, the intensity statistics
/// and the configurations.
public struct NNUNetPlans: Sendable {
    /// How nnU-Net reads and writes images, which decides the voxel order the network sees.
    public enum ImageReader: String, Sendable {
        /// SimpleITK: the array in (z, y, x) file order, no reorientation.
        case simpleITK = "SimpleITKIO"
        /// nibabel, transposed to (z, y, x), no reorientation.
        case nibabel = "NibabelIO"
        /// nibabel reoriented to RAS (`as_closest_canonical`), transposed to (z, y, x); the
        /// output is reoriented back.
        case nibabelReoriented = "NibabelIOWithReorient"
    }

    public var path: String
    public var plansName: String
    public var transposeForward: [Int]
    public var transposeBackward: [Int]
    public var imageReader: ImageReader
    /// Per input channel (the keys "0", "1", ... of `foreground_intensity_properties_per_channel`).
    public var intensityProperties: [Int: NNUNetIntensityProperties]
    public var configurationNames: [String]
    let json: NNUNetJSON

    public static func read(_ url: URL) throws -> NNUNetPlans {
        let json = try NNUNetJSON.read(url, what: "nnU-Net's plans.json")
        let forward = try json.ints("transpose_forward"), backward = try json.ints("transpose_backward")
        guard forward.sorted() == [0, 1, 2], backward.sorted() == [0, 1, 2],
              (0..<3).allSatisfy({ backward[forward[$0]] == $0 }) else {
            throw json.fail("transpose_forward", "\(forward) and transpose_backward \(backward) must be inverse permutations of [0, 1, 2]")
        }
        let readerName = json.has("image_reader_writer") ? try json.string("image_reader_writer") : "SimpleITKIO"
        guard let reader = ImageReader(rawValue: readerName) else {
            throw NNUNetError.unsupported(path: url.path, what: "image_reader_writer \"\(readerName)\" (SimpleITKIO, NibabelIO and NibabelIOWithReorient are)")
        }
        var properties: [Int: NNUNetIntensityProperties] = [:]
        if json.has("foreground_intensity_properties_per_channel") {
            let table = try json.child("foreground_intensity_properties_per_channel")
            for key in table.object.keys {
                guard let channel = Int(key), channel >= 0 else { throw table.fail(key, "is not a channel number") }
                let entry = try table.child(key)
                properties[channel] = NNUNetIntensityProperties(
                    mean: try entry.double("mean"), std: try entry.double("std"),
                    lowerPercentile: try entry.double("percentile_00_5"), upperPercentile: try entry.double("percentile_99_5"))
            }
        }
        let configurations = try json.child("configurations")
        return NNUNetPlans(path: url.path, plansName: (try? json.string("plans_name")) ?? "nnUNetPlans",
                           transposeForward: forward, transposeBackward: backward, imageReader: reader,
                           intensityProperties: properties, configurationNames: configurations.object.keys.sorted(), json: json)
    }

    public func configuration(_ name: String) throws -> NNUNetConfiguration {
        let configuration = try NNUNetConfiguration.read(json, name: name)
        for (channel, scheme) in configuration.normalization.enumerated() where scheme == .ct && intensityProperties[channel] == nil {
            throw json.fail("foreground_intensity_properties_per_channel", "has no entry \"\(channel)\", which CTNormalization of channel \(channel) needs")
        }
        return configuration
    }
}
