import Foundation
import VolSegCore
import VolSegPreprocessing

/// nnU-Net's `DefaultPreprocessor.run_case` for an image without a segmentation, in its order:
/// transpose, crop to the nonzero box, normalise each channel (on the cropped grid, before
/// resampling, so the nonzero mask still fits the image), resample to the configuration's spacing.
public struct NNUNetPreprocessor {
    public let plans: NNUNetPlans
    public let configuration: NNUNetConfiguration

    public init(plans: NNUNetPlans, configuration: NNUNetConfiguration) {
        self.plans = plans
        self.configuration = configuration
    }

    /// `image` [C, z, y, x] Float32 in the file's voxel order, `spacing` (z, y, x) in mm.
    public func run(_ image: Tensor, spacing: [Double]) -> (data: Tensor, properties: NNUNetCaseProperties) {
        let transposed = NNUNetTranspose.spatial(image, plans.transposeForward)
        let originalSpacing = plans.transposeForward.map { spacing[$0] }
        let crop = NonzeroCrop(nonzeroOf: transposed)
        let properties = NNUNetCaseProperties(spacing: spacing, shapeBeforeCropping: Array(transposed.shape.suffix(3)), crop: crop)
        var data = crop.crop(transposed)
        normalize(&data)
        // 2D configurations keep the spacing between slices.
        let target = configuration.isTwoDimensional ? [originalSpacing[0]] + configuration.spacing : configuration.spacing
        let newShape = NNUNetResampling.newShape(oldShape: crop.croppedShape, oldSpacing: originalSpacing, newSpacing: target)
        let settings = configuration.dataResampling
        data = NNUNetResampling.resampleToShape(data, newShape: newShape, currentSpacing: originalSpacing, newSpacing: target,
                                                order: settings.order, orderZ: settings.orderZ,
                                                forceSeparateZ: settings.forceSeparateZ)
        return (data, properties)
    }

    /// Each channel by its scheme, in place. The nonzero mask (filled as nnU-Net fills it) is built
    /// only when a ZScore channel normalises inside it.
    func normalize(_ data: inout Tensor) {
        let shape = Array(data.shape.suffix(3)), volume = shape.reduce(1, *)
        precondition(configuration.normalization.count == data.shape[0],
                     "the plans normalise \(configuration.normalization.count) channels, the image has \(data.shape[0])")
        var mask: [UInt8]? = nil
        if zip(configuration.normalization, configuration.useMaskForNorm).contains(where: { $0 == .zScore && $1 }) {
            mask = BinaryHoleFilling.filled(IntensityNormalization.nonzeroMask(data), shape: shape)
        }
        let values = data.data
        Parallel.forEach(data.shape[0]) { c in
            let channel = UnsafeMutableBufferPointer(start: values + c * volume, count: volume)
            switch configuration.normalization[c] {
            case .ct:
                let p = plans.intensityProperties[c]!
                let (low, high) = (Float(p.lowerPercentile), Float(p.upperPercentile))
                let mean = Float(p.mean), std = Float(max(p.std, 1e-8))
                for i in channel.indices { channel[i] = (min(max(channel[i], low), high) - mean) / std }
            case .zScore:
                if configuration.useMaskForNorm[c], let mask {
                    let (mean, std) = NNUNetPreprocessor.moments(channel) { mask[$0] != 0 }
                    for i in channel.indices where mask[i] != 0 { channel[i] = (channel[i] - mean) / std }
                } else {
                    let (mean, std) = NNUNetPreprocessor.moments(channel) { _ in true }
                    for i in channel.indices { channel[i] = (channel[i] - mean) / std }
                }
            case .none:
                break
            case .rescaleTo01:
                let low = channel.min() ?? 0
                for i in channel.indices { channel[i] -= low }
                let high = max(channel.max() ?? 0, 1e-8)
                for i in channel.indices { channel[i] /= high }
            case .rgbTo01:
                for i in channel.indices { channel[i] /= 255 }
            }
        }
    }

    /// Mean and standard deviation (population, as numpy's std) over the voxels `included`, in
    /// Float64, floored at nnU-Net's eps 1e-8; returned as Float32 as numpy's float32 arithmetic
    /// uses them.
    static func moments(_ values: UnsafeMutableBufferPointer<Float>, included: (Int) -> Bool) -> (Float, Float) {
        var sum = 0.0, count = 0
        for i in values.indices where included(i) { sum += Double(values[i]); count += 1 }
        let mean = count > 0 ? sum / Double(count) : 0
        var squares = 0.0
        for i in values.indices where included(i) { let d = Double(values[i]) - mean; squares += d * d }
        let std = count > 0 ? (squares / Double(count)).squareRoot() : 0
        return (Float(mean), Float(max(std, 1e-8)))
    }
}
