import Foundation
@testable import VolSegCore
@testable import VolSegIO

/// Small checkpoints for CLI tests that need a model to run, not a good one.
enum RandomUNetCheckpoint {
    /// A unet3d (widths 2, 4; one conv per stage) checkpoint with random weights, written by
    /// parameter name as the trainer writes them, with the bundle config in the root attribute.
    static func write(channels: Int = 1, config overrides: [String: Any?] = [:], to url: URL) throws -> URL {
        var shapes: [(String, [Int])] = []
        func convNorm(_ prefix: String, _ input: Int, _ output: Int) {
            shapes += [("\(prefix).conv.weight", [output, input, 3, 3, 3]), ("\(prefix).conv.bias", [output]),
                       ("\(prefix).norm.weight", [output]), ("\(prefix).norm.bias", [output])]
        }
        convNorm("encoder.0.0", channels, 2)
        convNorm("encoder.1.0", 2, 4)
        shapes += [("upsample.0.weight", [4, 2, 2, 2, 2]), ("upsample.0.bias", [2])]
        convNorm("decoder.0.0", 4, 2)
        shapes += [("heads.0.weight", [3, 2, 1, 1, 1]), ("heads.0.bias", [3])]
        var state: UInt64 = 12345
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 2000 - 0.5
        }
        var config: [String: Any] = [
            "model": ["name": "unet3d", "config": ["input_channels": channels, "num_classes": 3, "widths": [2, 4],
                                                    "convs_per_stage": 1, "deep_supervision": false]],
            "patch": [64, 64, 64],
            "preprocessing": ["target_spacing": NSNull(),
                              "normalization": ["kind": "ct", "lower": -200, "upper": 250, "mean": 99.4, "std": 39.4]],
            "label_convention": "lits",
            "labels": [0, 1, 2],
            "modalities": channels == 1 ? ["CT"] : (0..<channels).map { "CT\($0)" },
        ]
        for (key, value) in overrides { config[key] = value }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        try HDF5File.writeAtomically(to: url) { file in
            for (name, shape) in shapes {
                let values = name.hasSuffix("norm.weight") ? [Float](repeating: 1, count: shape.reduce(1, *))
                    : (0..<shape.reduce(1, *)).map { _ in next() }
                try file.write(Tensor(shape: shape, values: values), to: "weights/\(name)")
            }
            try file.setAttribute("config", text)
        }
        return url
    }

}
