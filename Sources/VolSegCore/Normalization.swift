import Foundation

// The forward/backward pair shared by BatchNorm, InstanceNorm and GroupNorm (NormalizationKernels
// holds the loops). Backward keeps one tensor and a few numbers per plane: the output y when it
// determines x - mean (see SavedPlanes; the convolution after the norm keeps y anyway, so the norm
// costs no tensor of its own and the convolution output before it is freed), else the input x.

/// The result of one normalisation: the output and, when computed from the batch, the statistics
/// (BatchNorm uses them to update its running estimates).
struct NormalizationResult {
    let output: Tensor
    let statistics: NormalizationStatistics?
}

/// Normalises `x` per statistic group, applies the per-channel affine map and, when `slope` is
/// given, LeakyReLU. `fixed` statistics (BatchNorm evaluation) are constants for autograd.
func normalization(_ x: Tensor, grouping: NormalizationGrouping, weight: Tensor?, bias: Tensor?,
                   eps: Float, slope: Float?, fixed: NormalizationStatistics?, name: String,
                   overwritingInput: Bool = false) -> NormalizationResult {
    let layout = NormalizationLayout(shape: x.shape, grouping: grouping)
    let channels = layout.channels
    for (label, parameter) in [("weight", weight), ("bias", bias)] {
        if let parameter {
            precondition(parameter.count == channels,
                         "\(name): \(label) has \(parameter.count) values for \(channels) channels")
        }
    }
    let planned = x.isPlanned || (weight?.isPlanned ?? false) || (bias?.isPlanned ?? false)
    // Overwriting x (inference only): the kernel reads each element before writing it, and the
    // statistics are complete before the first write.
    precondition(!overwritingInput || !GradMode.isEnabled, "\(name): overwriting the input is for inference (withNoGrad)")
    let out = overwritingInput ? x : Tensor.empty(x.shape, planned: planned)

    // Per-plane constants: forward computes y = (x - mean) * scale + shift (then LeakyReLU).
    var statistics: NormalizationStatistics?
    var inverseStd: [Double] = []
    var planeMean: [Float] = [], planeScale: [Float] = [], planeShift: [Float] = [], planeGamma: [Float] = []
    // The affine parameters' values, read once (nil: absent or planned, i.e. gamma 1 / beta 0).
    let gammaValues = weight.flatMap { $0.isPlanned ? nil : $0.toArray() }
    let betaValues = bias.flatMap { $0.isPlanned ? nil : $0.toArray() }
    if !planned { OpProfile.measure(name) {
        let gamma = gammaValues ?? [Float](repeating: 1, count: channels)
        let beta = betaValues ?? [Float](repeating: 0, count: channels)
        let stats = fixed ?? BatchStatisticsSync.statistics(x.data, layout)
        statistics = stats
        inverseStd = stats.inverseStd(eps: Double(eps))
        for plane in 0..<layout.planes {
            let s = layout.statistic(ofPlane: plane), c = plane % channels
            planeMean.append(Float(stats.mean[s]))
            planeScale.append(Float(Double(gamma[c]) * inverseStd[s]))
            planeShift.append(beta[c])
            planeGamma.append(gamma[c])
        }
        NormalizationKernels.normalize(x.data, out.data, layout, planeMean: planeMean, planeScale: planeScale,
                                       planeShift: planeShift, slope: slope)
    } }

    if overwritingInput { return NormalizationResult(output: out, statistics: statistics) }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let needsInput = x.needsGrad, needsWeight = weight?.needsGrad ?? false, needsBias = bias?.needsGrad ?? false
    let hasWeight = weight != nil, hasBias = bias != nil
    // Decided from the parameters, so planning decides alike; planned parameters (no values)
    // count as the usual case, gamma 1 and beta 0.
    let fromOutput = SavedPlanes.outputSuffices(gamma: gammaValues ?? [], beta: betaValues ?? [], slope: slope)
    let saved = fromOutput ? out.detached() : x.detached()
    let savedPlanes = SavedPlanes(fromOutput: fromOutput, mean: planeMean, scale: planeScale, shift: planeShift, slope: slope)
    let isFixed = fixed != nil
    Tensor.record(name, output: out, inputs: inputs) { g in
        let planned = g.isPlanned || saved.isPlanned
        let gx = needsInput ? Tensor.empty(saved.shape, planned: planned) : nil
        let gw = needsWeight ? Tensor.empty([channels], planned: planned) : nil
        let gb = needsBias ? Tensor.empty([channels], planned: planned) : nil
        var grads: [Tensor?] = [gx]
        if hasWeight { grads.append(gw) }
        if hasBias { grads.append(gb) }
        if planned { return grads }

        // Evaluation-mode BatchNorm is a fixed affine map: its input gradient needs no sums.
        let sums = isFixed && gw == nil && gb == nil
            ? (gradient: [Double](), gradientTimesCentred: [Double]())
            : NormalizationKernels.gradientSums(saved.data, g.data, layout, savedPlanes)
        if let gw {
            var total = [Double](repeating: 0, count: channels)
            for plane in 0..<layout.planes {
                total[plane % channels] += sums.gradientTimesCentred[plane] * inverseStd[layout.statistic(ofPlane: plane)]
            }
            for c in 0..<channels { gw.data[c] = Float(total[c]) }
        }
        if let gb {
            var total = [Double](repeating: 0, count: channels)
            for plane in 0..<layout.planes { total[plane % channels] += sums.gradient[plane] }
            for c in 0..<channels { gb.data[c] = Float(total[c]) }
        }
        if let gx {
            var k0 = [Float](repeating: 0, count: layout.planes), k1 = k0
            if !isFixed {
                // The batch statistics depend on x: the two group means of the gradient enter gx.
                var groupGradient = [Double](repeating: 0, count: layout.statisticsCount)
                var groupGradientCentred = groupGradient
                for plane in 0..<layout.planes {
                    let s = layout.statistic(ofPlane: plane), gamma = Double(planeGamma[plane])
                    groupGradient[s] += gamma * sums.gradient[plane]
                    groupGradientCentred[s] += gamma * sums.gradientTimesCentred[plane]
                }
                BatchStatisticsSync.sumGradientSums(&groupGradient, &groupGradientCentred, layout)
                let m = Double(BatchStatisticsSync.count(layout))
                for plane in 0..<layout.planes {
                    let s = layout.statistic(ofPlane: plane), r = inverseStd[s]
                    k0[plane] = Float(-r * groupGradient[s] / m)
                    k1[plane] = Float(-r * r * r * groupGradientCentred[s] / m)
                }
            }
            NormalizationKernels.inputGradient(saved.data, g.data, gx.data, layout, savedPlanes, k0: k0, k1: k1)
        }
        return grads
    }
    return NormalizationResult(output: out, statistics: statistics)
}
