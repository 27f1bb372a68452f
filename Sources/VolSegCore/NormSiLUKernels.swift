import Foundation

// The loops of the fused norm + SiLU op (NormSiLU.swift), on the planes and chunks of the shared
// normalisation layout (NormalizationKernels.swift), sixteen lanes at a time with `vectorExp`.
// Sums accumulate in Float64 lanes, as the plain norms' do.

enum NormSiLUKernels {
    @inline(__always)
    static func sigmoid(_ z: Float) -> Float { 1 / (1 + Foundation.exp(-z)) }

    /// y = z * sigmoid(z) with z = x * scale + shift, per plane.
    static func affineSiLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ layout: NormalizationLayout,
                           planeScale: [Float], planeShift: [Float]) {
        let chunks = PlaneChunks(planes: layout.planes, spatial: layout.spatial)
        chunks.forEach { plane, _, range in
            let offset = plane * layout.spatial
            let src = x + offset, dst = y + offset
            let scale = planeScale[plane], shift = planeShift[plane]
            let scaleLanes = Lanes(repeating: scale), shiftLanes = Lanes(repeating: shift)
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let z = VectorMemory.load(src + i) * scaleLanes + shiftLanes
                VectorMemory.store(z * vectorSigmoid(z), dst + i)
                i += 16
            }
            while i < range.upperBound {
                let z = src[i] * scale + shift
                dst[i] = z * sigmoid(z)
                i += 1
            }
        }
    }

    /// The gradient at the norm's output (before SiLU), gz = gy * s * (1 + z (1 - s)) with
    /// s = sigmoid(z), z = gamma * xhat + beta.
    @inline(__always)
    static func normOutputGradient(_ gy: Lanes, _ xhat: Lanes, gamma: Float, beta: Float) -> Lanes {
        let z = xhat * gamma + beta
        let s = vectorSigmoid(z)
        return gy * s * (1 + z * (1 - s))
    }

    @inline(__always)
    static func normOutputGradient(_ gy: Float, _ xhat: Float, gamma: Float, beta: Float) -> Float {
        let z = xhat * gamma + beta
        let s = sigmoid(z)
        return gy * s * (1 + z * (1 - s))
    }

    /// Per plane: Σ gz and Σ gz * xhat.
    static func gradientSums(_ x: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ layout: NormalizationLayout,
                             _ planes: NormSiLUPlanes) -> (gradient: [Double], gradientTimesNormalised: [Double]) {
        let chunks = PlaneChunks(planes: layout.planes, spatial: layout.spatial)
        let (gradient, gradientTimesNormalised) = chunks.pairSums(groups: layout.planes, groupOf: { $0 }) { plane, range in
            let offset = plane * layout.spatial
            return gradientSumsRange(x + offset, gy + offset, range, planes, plane)
        }
        return (gradient, gradientTimesNormalised)
    }

    @inline(__always)
    static func gradientSumsRange(_ x: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ range: Range<Int>,
                                  _ planes: NormSiLUPlanes, _ plane: Int) -> (Double, Double) {
        let mean = planes.mean[plane], inverseStd = planes.inverseStd[plane]
        let gamma = planes.gamma[plane], beta = planes.beta[plane]
        var a0 = SIMD8<Double>(), a1 = SIMD8<Double>(), b0 = SIMD8<Double>(), b1 = SIMD8<Double>()
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let xhat = (VectorMemory.load(x + i) - mean) * inverseStd
            let gz = normOutputGradient(VectorMemory.load(gy + i), xhat, gamma: gamma, beta: beta)
            let gzx = gz * xhat
            a0 += SIMD8<Double>(gz.lowHalf)
            a1 += SIMD8<Double>(gz.highHalf)
            b0 += SIMD8<Double>(gzx.lowHalf)
            b1 += SIMD8<Double>(gzx.highHalf)
            i += 16
        }
        var a = (a0 + a1).sum(), b = (b0 + b1).sum()
        while i < range.upperBound {
            let xhat = (x[i] - mean) * inverseStd
            let gz = normOutputGradient(gy[i], xhat, gamma: gamma, beta: beta)
            a += Double(gz)
            b += Double(gz * xhat)
            i += 1
        }
        return (a, b)
    }

    /// dx = inverseStd * (gamma * gz - meanGradient - xhat * meanGradientTimesNormalised), per plane.
    static func inputGradient(_ x: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>,
                              _ layout: NormalizationLayout, _ planes: NormSiLUPlanes,
                              meanGradient: [Float], meanGradientTimesNormalised: [Float]) {
        let chunks = PlaneChunks(planes: layout.planes, spatial: layout.spatial)
        chunks.forEach { plane, _, range in
            let offset = plane * layout.spatial
            let src = x + offset, g = gy + offset, dst = gx + offset
            let mean = planes.mean[plane], inverseStd = planes.inverseStd[plane]
            let gamma = planes.gamma[plane], beta = planes.beta[plane]
            let ma = meanGradient[plane], mb = meanGradientTimesNormalised[plane]
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let xhat = (VectorMemory.load(src + i) - mean) * inverseStd
                let gz = normOutputGradient(VectorMemory.load(g + i), xhat, gamma: gamma, beta: beta)
                VectorMemory.store((gz * gamma - ma - xhat * mb) * inverseStd, dst + i)
                i += 16
            }
            while i < range.upperBound {
                let xhat = (src[i] - mean) * inverseStd
                let gz = normOutputGradient(g[i], xhat, gamma: gamma, beta: beta)
                dst[i] = (gz * gamma - ma - xhat * mb) * inverseStd
                i += 1
            }
        }
    }
}

/// Per-plane constants of the fused op's backward: the plane's statistic (mean, 1/std, both
/// rounded to Float as the loops use them) and its channel's gamma and beta.
struct NormSiLUPlanes {
    var mean: [Float] = [], inverseStd: [Float] = [], gamma: [Float] = [], beta: [Float] = []
}
