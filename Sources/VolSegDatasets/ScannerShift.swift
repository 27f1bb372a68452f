import Foundation
import VolSegCore
import VolSegPreprocessing

/// A simulated change of scanner applied to raw intensities [C, D, H, W] (HU for CT, arbitrary
/// units for MRI): what a model trained at one hospital meets at another. Every parameter is
/// written down so a demonstration can be repeated (`description`).
///
/// Order: per-channel gamma on intensities scaled to [0, 1] by the channel's maximum (MRI contrast
/// changes non-linearly with the sequence), a smooth multiplicative bias field (coil
/// inhomogeneity), a linear calibration scale * v + offset (a CT scanner's HU calibration), a
/// Gaussian blur (a softer reconstruction kernel) and Gaussian noise (a lower dose). With
/// `keepsBackground`, voxels that are 0 in every channel stay 0 (skull-stripped MRI, whose
/// normalisation uses the nonzero mask).
public struct ScannerShift: Sendable, Equatable, CustomStringConvertible {
    public var scale: Float = 1
    public var offset: Float = 0
    /// Per-channel exponent (1 = none); one value applies to every channel.
    public var gamma: [Float] = [1]
    /// Peak of |log bias| of the field exp(a x + b y + c z + d x y) over the volume (0 = none).
    public var biasFieldStrength: Float = 0
    /// Gaussian blur sigma in voxels (0 = none).
    public var blurSigma: Float = 0
    /// Noise std in the image's units, after the calibration (0 = none).
    public var noiseStd: Float = 0
    public var keepsBackground = false
    public var seed: UInt64 = 0

    public init(scale: Float = 1, offset: Float = 0, gamma: [Float] = [1], biasFieldStrength: Float = 0,
                blurSigma: Float = 0, noiseStd: Float = 0, keepsBackground: Bool = false, seed: UInt64 = 0) {
        self.scale = scale; self.offset = offset; self.gamma = gamma; self.biasFieldStrength = biasFieldStrength
        self.blurSigma = blurSigma; self.noiseStd = noiseStd; self.keepsBackground = keepsBackground; self.seed = seed
    }

    /// The liver demonstration's scanner: HU' = 1.15 HU + 40 (a miscalibrated, harder-kernel
    /// scanner; liver at ~100 HU reads ~155), blur sigma 0.8 voxel, noise std 20 HU.
    public static let liverScanner = ScannerShift(scale: 1.15, offset: 40, blurSigma: 0.8, noiseStd: 20, seed: 7)

    /// The BraTS demonstration's contrasts: gammas 0.4 / 2.5 / 0.4 / 2.5 per channel (T1, T1ce,
    /// T2, FLAIR: each contrast bent the other way from its neighbour), a bias field of peak
    /// strength 0.8 (x 0.45 to x 2.2), background kept. Milder settings (gammas 0.6-1.5, field 0.4)
    /// cost the synthetic-phantom model under 0.035 Dice in any region: too little to show anything.
    public static let bratsContrast = ScannerShift(gamma: [0.4, 2.5, 0.4, 2.5], biasFieldStrength: 0.8,
                                                   keepsBackground: true, seed: 11)

    /// The named starting points of `volseg shift --preset`; the raw values are its spellings.
    public enum Preset: String, Sendable, CaseIterable {
        case liverScanner = "liver-scanner"
        case bratsContrast = "brats-contrast"
        /// No shift: every value comes from the flags.
        case none

        public var shift: ScannerShift {
            switch self {
            case .liverScanner: return .liverScanner
            case .bratsContrast: return .bratsContrast
            case .none: return ScannerShift()
            }
        }
    }

    public var description: String {
        "scale \(scale), offset \(offset), gamma \(gamma), bias field \(biasFieldStrength), blur sigma \(blurSigma) voxel, "
            + "noise std \(noiseStd), background \(keepsBackground ? "kept" : "shifted"), seed \(seed)"
    }

    public var dictionary: [String: Any] {
        ["scale": Double(scale), "offset": Double(offset), "gamma": gamma.map(Double.init),
         "bias_field_strength": Double(biasFieldStrength), "blur_sigma": Double(blurSigma),
         "noise_std": Double(noiseStd), "keeps_background": keepsBackground, "seed": seed]
    }

    /// The shifted copy of `image` [C, D, H, W].
    public func apply(_ image: Tensor) -> Tensor {
        precondition(image.rank == 4, "ScannerShift: image [C, D, H, W], got \(image.shape)")
        let channels = image.shape[0], dims = Array(image.shape.suffix(3)), volume = dims.reduce(1, *)
        let out = image.copy()
        let background = keepsBackground ? IntensityNormalization.nonzeroMask(image) : nil
        let field = biasFieldStrength > 0 ? biasField(dims) : nil
        var generator = RandomGenerator(seed: seed)
        for c in 0..<channels {
            let v = out.data + c * volume
            let g = gamma.count == 1 ? gamma[0] : gamma[c % gamma.count]
            if g != 1 {
                var top: Float = 0
                for i in 0..<volume { top = max(top, v[i]) }
                if top > 0 { for i in 0..<volume where v[i] > 0 { v[i] = top * powf(v[i] / top, g) } }
            }
            if let field { for i in 0..<volume { v[i] *= field[i] } }
            if scale != 1 || offset != 0 { for i in 0..<volume { v[i] = scale * v[i] + offset } }
            if blurSigma > 0 { ScannerShift.blur(v, dims, sigma: blurSigma) }
            if noiseStd > 0 { for i in 0..<volume { v[i] += noiseStd * generator.nextNormal() } }
            if let background { for i in 0..<volume where background[i] == 0 { v[i] = 0 } }
        }
        return out
    }

    /// exp(strength * f) with f a fixed smooth polynomial of the normalised coordinates, |f| <= 1.
    func biasField(_ dims: [Int]) -> [Float] {
        var field = [Float](repeating: 1, count: dims.reduce(1, *))
        func unit(_ i: Int, _ n: Int) -> Float { n > 1 ? 2 * Float(i) / Float(n - 1) - 1 : 0 }
        for z in 0..<dims[0] {
            for y in 0..<dims[1] {
                for x in 0..<dims[2] {
                    let (u, w, s) = (unit(x, dims[2]), unit(y, dims[1]), unit(z, dims[0]))
                    let f = (0.5 * u + 0.3 * w - 0.2 * s + 0.3 * u * w) / 1.3
                    field[(z * dims[1] + y) * dims[2] + x] = expf(biasFieldStrength * f)
                }
            }
        }
        return field
    }

    /// Separable Gaussian (truncated at 3 sigma, edges replicated) in place on one volume.
    static func blur(_ v: UnsafeMutablePointer<Float>, _ dims: [Int], sigma: Float) {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { expf(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        let strides = [dims[1] * dims[2], dims[2], 1]
        let volume = dims.reduce(1, *)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: volume)
        defer { scratch.deallocate() }
        for axis in 0..<3 {
            scratch.update(from: v, count: volume)
            let n = dims[axis], stride = strides[axis]
            let lines = volume / n
            kernel.withUnsafeBufferPointer { k in
                let k = k
                Parallel.forEachChunk(lines, minimumChunk: 64) { range in
                    for line in range {
                        // The line's first voxel: every index with coordinate 0 along `axis`.
                        let outer = line / stride, inner = line % stride
                        let base = outer * stride * n + inner
                        for i in 0..<n {
                            var sum: Float = 0
                            for j in -radius...radius {
                                let p = min(max(i + j, 0), n - 1)
                                sum += k[j + radius] * scratch[base + p * stride]
                            }
                            v[base + i * stride] = sum
                        }
                    }
                }
            }
        }
    }
}
