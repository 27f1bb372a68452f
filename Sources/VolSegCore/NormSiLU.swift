import Foundation

// SiLU(norm(x)) as a forward/backward pair that keeps only x: MBConv's memory-lean path inside
// reversible stacks (VolSegNN's MBConvNormActivation.swift records it).
//
// Autograd on the separate ops keeps two tensors per pair: the norm's input (for the norm's
// backward) and the norm's output (for SiLU's). This pair needs x alone and, in backward, rebuilds
// the normalised value and the SiLU derivative on the fly in two streaming passes, allocating
// nothing but the input gradient. The statistics are the norm's own, from the kernels the plain
// norms use (NormalizationKernels.swift): BatchNorm in training mode (per channel over batch and
// voxels; running statistics updated as `batchNorm` updates them, unless the caller says not to),
// InstanceNorm (per sample and channel), GroupNorm (per sample and group). SiLU cannot be undone,
// so unlike the plain norms this pair can never rebuild x from its output: x is what it keeps.

/// A norm layer's parameters and statistics rule, for the fused pair.
package struct NormSiLUParameters {
    package let weight: Tensor, bias: Tensor, eps: Float
    package let grouping: NormalizationGrouping
    /// BatchNorm in training mode with updating on: where and how to update the running estimates.
    package let running: (mean: Tensor, variance: Tensor, momentum: Float)?

    package init(weight: Tensor, bias: Tensor, eps: Float, grouping: NormalizationGrouping,
                 running: (mean: Tensor, variance: Tensor, momentum: Float)?) {
        self.weight = weight; self.bias = bias; self.eps = eps; self.grouping = grouping; self.running = running
    }

    /// The same layer without running-statistics updates (backward only reads statistics).
    package var frozen: NormSiLUParameters {
        NormSiLUParameters(weight: weight, bias: bias, eps: eps, grouping: grouping, running: nil)
    }
}

private func normSiLULayout(_ x: Tensor, _ p: NormSiLUParameters) -> NormalizationLayout {
    precondition(x.rank >= 3, "normSiLU: needs [N, C, spatial...], got \(x.shape)")
    let layout = NormalizationLayout(shape: x.shape, grouping: p.grouping)
    precondition(p.weight.count == layout.channels, "normSiLU: \(p.weight.count) weights for \(layout.channels) channels")
    return layout
}

/// y = SiLU(norm(x)) without recording (the forward of the fused ops).
package func normSiLUForward(_ x: Tensor, _ p: NormSiLUParameters) -> Tensor {
    let layout = normSiLULayout(x, p)
    let out = Tensor.empty(x.shape, planned: x.isPlanned || p.weight.isPlanned)
    if out.isPlanned { return out }
    let stats = BatchStatisticsSync.statistics(x.data, layout)
    if let running = p.running, !running.mean.isPlanned, !running.variance.isPlanned {
        precondition(layout.elementsPerStatistic > 1, "BatchNorm training needs more than one value per channel, got \(x.shape)")
        updateRunningStatistics(mean: running.mean, variance: running.variance, batch: stats,
                                valuesPerChannel: BatchStatisticsSync.count(layout), momentum: running.momentum)
    }
    let inverseStd = stats.inverseStd(eps: Double(p.eps))
    let gamma = p.weight.toArray(), beta = p.bias.toArray()
    var planeScale = [Float](), planeShift = [Float]()
    for plane in 0..<layout.planes {
        let s = layout.statistic(ofPlane: plane), c = plane % layout.channels
        let scale = Float(Double(gamma[c]) * inverseStd[s])
        planeScale.append(scale)
        planeShift.append(beta[c] - Float(stats.mean[s]) * scale)
    }
    NormSiLUKernels.affineSiLU(x.data, out.data, layout, planeScale: planeScale, planeShift: planeShift)
    return out
}

/// The gradients of SiLU(norm(x)) for the output gradient `gy`: input, weight, bias. Statistics
/// are recomputed from x (the norm's batch statistics are a function of x, so this is exact).
package func normSiLUBackward(_ x: Tensor, _ gy: Tensor, _ p: NormSiLUParameters, needsInput: Bool)
    -> (input: Tensor?, weight: Tensor, bias: Tensor) {
    let layout = normSiLULayout(x, p)
    let planned = x.isPlanned || gy.isPlanned || p.weight.isPlanned
    let gx = needsInput ? Tensor.empty(x.shape, planned: planned) : nil
    let gw = Tensor.empty([layout.channels], planned: planned), gb = Tensor.empty([layout.channels], planned: planned)
    if planned { return (gx, gw, gb) }
    let stats = BatchStatisticsSync.statistics(x.data, layout)
    let inverseStd = stats.inverseStd(eps: Double(p.eps))
    let gamma = p.weight.toArray(), beta = p.bias.toArray()
    var planes = NormSiLUPlanes()
    for plane in 0..<layout.planes {
        let s = layout.statistic(ofPlane: plane), c = plane % layout.channels
        planes.mean.append(Float(stats.mean[s]))
        planes.inverseStd.append(Float(inverseStd[s]))
        planes.gamma.append(gamma[c])
        planes.beta.append(beta[c])
    }
    // Pass 1: per plane, Σ gz and Σ gz·x̂, where gz is the gradient at the norm's output.
    let sums = NormSiLUKernels.gradientSums(x.data, gy.data, layout, planes)
    var weightGradient = [Double](repeating: 0, count: layout.channels), biasGradient = weightGradient
    var meanA = [Double](repeating: 0, count: layout.statisticsCount), meanB = meanA
    for plane in 0..<layout.planes {
        let c = plane % layout.channels, s = layout.statistic(ofPlane: plane)
        weightGradient[c] += sums.gradientTimesNormalised[plane]
        biasGradient[c] += sums.gradient[plane]
        // The gradient at x̂ is γ·gz: its mean and its mean against x̂ over each statistic.
        meanA[s] += Double(gamma[c]) * sums.gradient[plane]
        meanB[s] += Double(gamma[c]) * sums.gradientTimesNormalised[plane]
    }
    for c in 0..<layout.channels {
        gw.data[c] = Float(weightGradient[c])
        gb.data[c] = Float(biasGradient[c])
    }
    if let gx {
        BatchStatisticsSync.sumGradientSums(&meanA, &meanB, layout)
        let n = Double(BatchStatisticsSync.count(layout))
        let meanGradient = (0..<layout.planes).map { Float(meanA[layout.statistic(ofPlane: $0)] / n) }
        let meanGradientTimesNormalised = (0..<layout.planes).map { Float(meanB[layout.statistic(ofPlane: $0)] / n) }
        // Pass 2: dx = inverseStd · (γ·gz − mean(γ·gz) − x̂ · mean(γ·gz·x̂)).
        NormSiLUKernels.inputGradient(x.data, gy.data, gx.data, layout, planes, meanGradient: meanGradient,
                                      meanGradientTimesNormalised: meanGradientTimesNormalised)
    }
    return (gx, gw, gb)
}
