/// A plans file's `normalization_schemes` entry: how one input channel's intensities are mapped
/// before the network (nnU-Net's `default_normalization_schemes.py`).
public enum NNUNetNormalization: String, Equatable, Sendable {
    /// Clip to the training foreground's 0.5 and 99.5 percentiles, subtract its mean, divide by its
    /// std (`foreground_intensity_properties_per_channel`).
    case ct = "CTNormalization"
    /// Mean 0 and std 1 over the image, or over the nonzero mask when `use_mask_for_norm`.
    case zScore = "ZScoreNormalization"
    case none = "NoNormalization"
    /// (x - min) / max of the shifted image.
    case rescaleTo01 = "RescaleTo01Normalization"
    /// x / 255 (8-bit RGB channels).
    case rgbTo01 = "RGBTo01Normalization"
}

/// The training set's foreground intensity statistics of one channel, which CTNormalization uses.
public struct NNUNetIntensityProperties: Equatable, Sendable {
    public var mean: Double
    public var std: Double
    public var lowerPercentile: Double
    public var upperPercentile: Double

    public init(mean: Double, std: Double, lowerPercentile: Double, upperPercentile: Double) {
        self.mean = mean
        self.std = std
        self.lowerPercentile = lowerPercentile
        self.upperPercentile = upperPercentile
    }
}
