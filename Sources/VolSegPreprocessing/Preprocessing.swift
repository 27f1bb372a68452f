import Foundation
import VolSegCore
import VolSegIO

/// nnU-Net's preprocessing and its exact inverse: reorient to canonical RAS, replace NaN/inf by 0,
/// crop to the nonzero box, normalise intensities, resample to the target spacing (trilinear for
/// images, nearest for labels). The `PreprocessingRecord` brings a prediction made on the
/// preprocessed grid back to the input file's grid and orientation.
///
/// Spacings are (x, y, z) in mm, NIfTI order, after reorientation; tensors are [C, D, H, W].
public struct Preprocessor: Sendable {
    /// nil keeps the input spacing.
    public var targetSpacing: [Double]?
    public var normalization: IntensityNormalization
    public var cropToNonzero: Bool

    public init(targetSpacing: [Double]?, normalization: IntensityNormalization, cropToNonzero: Bool = true) {
        precondition(targetSpacing.map { $0.count == 3 && $0.allSatisfy { $0 > 0 } } ?? true, "target spacing is 3 positive mm values")
        self.targetSpacing = targetSpacing
        self.normalization = normalization
        self.cropToNonzero = cropToNonzero
    }

    /// A read NIfTI image (and optional label map on its grid): reoriented, then `run`.
    public func prepare(_ image: NIfTIVolume, labels: NIfTIVolume? = nil) throws -> PreprocessedCase {
        try image.requireThreeDimensional()
        if let labels { try labels.requireSameGrid(as: image) }
        let orientation = CanonicalOrientation(header: image.header)
        let canonical = orientation.toCanonical(image.voxels)
        let canonicalLabels = labels.map { orientation.toCanonical($0.voxels) }
        var result = run(image: canonical, spacing: orientation.canonicalSpacing, labels: canonicalLabels)
        result.record.orientation = orientation
        return result
    }

    /// Preprocesses [C, D, H, W] with voxel size `spacing` (x, y, z); labels [1, D, H, W].
    public func run(image: Tensor, spacing: [Double], labels: Tensor? = nil) -> PreprocessedCase {
        precondition(image.rank == 4 && spacing.count == 3, "image [C, D, H, W] and spacing (x, y, z)")
        let (clean, replaced) = Preprocessor.replacingNonFinite(image)
        let crop = cropToNonzero ? NonzeroCrop(nonzeroOf: clean)
                                 : NonzeroCrop(fullShape: Array(image.shape.suffix(3)), lower: [0, 0, 0], upper: Array(image.shape.suffix(3)))
        let cropped = crop.crop(clean)
        let normalised = normalization.apply(cropped)
        let spacingDHW = Array(spacing.reversed())
        let targetDHW = targetSpacing.map { Array($0.reversed()) } ?? spacingDHW
        let resampledShape = Resampler.shape(crop.croppedShape, spacing: spacingDHW, targetSpacing: targetDHW)
        let resampled = Resampler.trilinear(normalised, to: resampledShape)
        let resampledLabels = labels.map { Resampler.nearestCentreAligned(crop.crop($0), to: resampledShape) }
        let record = PreprocessingRecord(orientation: nil, crop: crop, resampledShape: resampledShape,
                                         spacing: spacing, targetSpacing: targetSpacing ?? spacing,
                                         replacedNonFinite: replaced)
        return PreprocessedCase(image: resampled, labels: resampledLabels, record: record)
    }

    /// NaN and infinities become 0 (counted): one NaN would poison every statistic and convolution.
    static func replacingNonFinite(_ t: Tensor) -> (Tensor, Int) {
        let out = Tensor.empty(t.shape)
        let src = t.data, dst = out.data
        let lock = NSLock()
        var replaced = 0
        Parallel.forEachChunk(t.count, minimumChunk: 1 << 16) { range in
            var n = 0
            for i in range {
                let v = src[i]
                if v.isFinite { dst[i] = v } else { dst[i] = 0; n += 1 }
            }
            if n > 0 { lock.lock(); replaced += n; lock.unlock() }
        }
        return (out, replaced)
    }
}

/// A preprocessed case: the network's input, its labels on the same grid, and the way back.
public struct PreprocessedCase: @unchecked Sendable {
    public var image: Tensor
    public var labels: Tensor?
    public var record: PreprocessingRecord
}

/// Everything needed to bring a prediction back to the input grid.
public struct PreprocessingRecord: Equatable, Sendable {
    /// Set when the input was reoriented (`Preprocessor.prepare`).
    public var orientation: CanonicalOrientation?
    public var crop: NonzeroCrop
    /// [D, H, W] of the network's grid.
    public var resampledShape: [Int]
    /// (x, y, z) mm of the input (after reorientation) and of the network's grid.
    public var spacing: [Double]
    public var targetSpacing: [Double]
    /// NaN or infinite input voxels that were set to 0; callers warn when it is not zero.
    public var replacedNonFinite: Int

    /// A label map [1, D', H', W'] (or [D', H', W']) on the network's grid -> [1, D, H, W] on the
    /// input grid and orientation: nearest-neighbour resampling, background outside the crop box.
    public func restoreLabels(_ prediction: Tensor) -> Tensor {
        let labels = prediction.rank == 3 ? prediction.reshaped([1] + prediction.shape) : prediction
        precondition(Array(labels.shape.suffix(3)) == resampledShape, "prediction \(prediction.shape) is not on the grid \(resampledShape)")
        let onCrop = Resampler.nearestCentreAligned(labels, to: crop.croppedShape)
        let full = crop.uncrop(onCrop, fill: [0])
        return orientation?.fromCanonical(full) ?? full
    }

    /// Class probabilities [K, D', H', W'] -> [K, D, H, W] on the input grid: trilinear resampling
    /// (argmax after resampling is smoother than resampling the argmax), background (class 0)
    /// certain outside the crop box.
    public func restoreProbabilities(_ probabilities: Tensor) -> Tensor {
        precondition(probabilities.rank == 4 && Array(probabilities.shape.suffix(3)) == resampledShape,
                     "probabilities \(probabilities.shape) are not [K] + \(resampledShape)")
        let onCrop = Resampler.trilinear(probabilities, to: crop.croppedShape)
        let full = crop.uncrop(onCrop, fill: [1, 0])
        return orientation?.fromCanonical(full) ?? full
    }
}
