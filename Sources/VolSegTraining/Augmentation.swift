import Foundation

/// The random changes applied to each training patch, with nnU-Net's probabilities and ranges as
/// defaults (REFERENCE.md). Spatial steps (rotation, scaling) resample the patch from the whole
/// case, trilinear for images and nearest for labels, so no border is invented inside the case;
/// intensity steps act per channel on the image only; mirroring flips image and labels together.
///
/// Not done (nnU-Net has them): Gaussian blur and simulated low resolution.
public struct AugmentationSettings: Sendable, Equatable {
    public var enabled = true
    /// Axes to mirror, NIfTI order (0 x, 1 y, 2 z); each is flipped with `mirrorProbability`.
    public var mirrorAxes = [0, 1, 2]
    public var mirrorProbability = 0.5
    /// Rotation about each axis by an angle uniform in +-rotationDegrees.
    public var rotationProbability = 0.2
    public var rotationDegrees = 30.0
    /// Isotropic zoom factor range (source coordinates scaled by it).
    public var scalingProbability = 0.2
    public var scalingRange: ClosedRange<Double> = 0.7...1.4
    /// Multiplicative brightness per channel.
    public var intensityScaleProbability = 0.15
    public var intensityScaleRange: ClosedRange<Double> = 0.75...1.25
    /// Additive shift per channel (in normalised intensity units).
    public var intensityShiftProbability = 0.15
    public var intensityShiftRange: ClosedRange<Double> = -0.1...0.1
    /// Contrast around the channel mean, clipped to the channel's range.
    public var contrastProbability = 0.15
    public var contrastRange: ClosedRange<Double> = 0.75...1.25
    /// Gamma on the intensities rescaled to [0, 1], mean and std restored; `gammaInvertProbability`
    /// applies it to the negated image instead (nnU-Net's two gamma steps).
    public var gammaProbability = 0.3
    public var gammaRange: ClosedRange<Double> = 0.7...1.5
    public var gammaInvertProbability = 0.1
    /// Additive Gaussian noise with a variance drawn from `noiseVarianceRange`.
    public var noiseProbability = 0.1
    public var noiseVarianceRange: ClosedRange<Double> = 0...0.1

    public init() {}

    /// No augmentation at all (validation, tests of the sampler).
    public static var none: AugmentationSettings {
        var s = AugmentationSettings()
        s.enabled = false
        return s
    }

    public var usesSpatialTransform: Bool { enabled && (rotationProbability > 0 || scalingProbability > 0) }

    /// `augmentation:` is `none`, or a mapping of steps, each `{probability, range|degrees|axes}`.
    static func parse(_ parent: PipelineYAMLReader, key: String) throws -> AugmentationSettings {
        var settings = AugmentationSettings()
        if let n = parent.node(key), let word = parent.scalarString(n) {
            guard word.lowercased() == "none" else { throw parent.error(key, "must be none or a mapping of steps, got '\(word)'", node: n) }
            return .none
        }
        let r = try parent.section(key)
        settings.enabled = try r.bool("enabled", default: true)
        // Each step is a mapping of its settings, or `none` to switch it off.
        func step(_ name: String, disable: () -> Void, _ body: (PipelineYAMLReader) throws -> Void) throws {
            guard let n = r.node(name) else { return }
            if let word = r.scalarString(n) {
                guard word.lowercased() == "none" else {
                    throw r.error(name, "must be none or a mapping of the step's settings, got '\(word)'", node: n)
                }
                disable()
                return
            }
            let s = try PipelineYAMLReader(node: n, file: r.file, path: r.keyPath(name))
            try body(s)
            try s.finish()
        }
        try step("mirror", disable: { settings.mirrorAxes = [] }) { s in
            settings.mirrorProbability = try s.double("probability", default: settings.mirrorProbability, range: 0...1)
            if let names = try s.strings("axes") {
                settings.mirrorAxes = try names.map { name in
                    guard let i = ["x", "y", "z"].firstIndex(of: name.lowercased()) else { throw s.error("axes", "must list x, y, z, got '\(name)'") }
                    return i
                }
            }
        }
        try step("rotation", disable: { settings.rotationProbability = 0 }) { s in
            settings.rotationProbability = try s.double("probability", default: settings.rotationProbability, range: 0...1)
            settings.rotationDegrees = try s.double("degrees", default: settings.rotationDegrees, range: 0...180)
        }
        try step("scaling", disable: { settings.scalingProbability = 0 }) { s in
            settings.scalingProbability = try s.double("probability", default: settings.scalingProbability, range: 0...1)
            settings.scalingRange = try s.range("range", default: settings.scalingRange)
            if settings.scalingRange.lowerBound <= 0 { throw s.error("range", "zoom factors must be positive") }
        }
        try step("intensity_scale", disable: { settings.intensityScaleProbability = 0 }) { s in
            settings.intensityScaleProbability = try s.double("probability", default: settings.intensityScaleProbability, range: 0...1)
            settings.intensityScaleRange = try s.range("range", default: settings.intensityScaleRange)
        }
        try step("intensity_shift", disable: { settings.intensityShiftProbability = 0 }) { s in
            settings.intensityShiftProbability = try s.double("probability", default: settings.intensityShiftProbability, range: 0...1)
            settings.intensityShiftRange = try s.range("range", default: settings.intensityShiftRange)
        }
        try step("contrast", disable: { settings.contrastProbability = 0 }) { s in
            settings.contrastProbability = try s.double("probability", default: settings.contrastProbability, range: 0...1)
            settings.contrastRange = try s.range("range", default: settings.contrastRange)
        }
        try step("gamma", disable: { settings.gammaProbability = 0; settings.gammaInvertProbability = 0 }) { s in
            settings.gammaProbability = try s.double("probability", default: settings.gammaProbability, range: 0...1)
            settings.gammaRange = try s.range("range", default: settings.gammaRange)
            settings.gammaInvertProbability = try s.double("invert_probability", default: settings.gammaInvertProbability, range: 0...1)
            if settings.gammaRange.lowerBound <= 0 { throw s.error("range", "gamma must be positive") }
        }
        try step("noise", disable: { settings.noiseProbability = 0 }) { s in
            settings.noiseProbability = try s.double("probability", default: settings.noiseProbability, range: 0...1)
            settings.noiseVarianceRange = try s.range("variance", default: settings.noiseVarianceRange)
        }
        try r.finish()
        return settings
    }
}
