import Foundation
import VolSegCore

// SiLU(norm(x)) as one op that keeps only x, MBConv's memory-lean path inside reversible stacks.
//
// Autograd on the separate ops keeps two tensors per pair: the norm's input (for the norm's
// backward) and the norm's output (for SiLU's). This op keeps x alone and, in backward, rebuilds
// the normalised value and the SiLU derivative on the fly in two streaming passes, allocating
// nothing but the input gradient. Inside a recomputed MBConv branch that removes the two widest
// tensors of the two pairs from the memory peak. The statistics are the norm's own: BatchNorm in
// training mode (per channel over batch and voxels; running statistics updated as PyTorch does,
// unless the layer says not to), InstanceNorm (per sample and channel), GroupNorm (per sample and
// group). Statistics and gradient sums accumulate in Float64.

/// Which elements share one mean and variance, for tensors `[N, C, spatial]`.
struct NormActivationLayout {
    enum Grouping { case batch, instance, group(Int) }

    let batch: Int, channels: Int, spatial: Int
    let grouping: Grouping

    init(shape: [Int], grouping: Grouping) {
        precondition(shape.count >= 3, "normSiLU: needs [N, C, spatial...], got \(shape)")
        batch = shape[0]
        channels = shape[1]
        spatial = shape[2...].reduce(1, *)
        self.grouping = grouping
        if case .group(let groups) = grouping {
            precondition(channels % groups == 0, "normSiLU: \(channels) channels in \(groups) groups")
        }
    }

    var planes: Int { batch * channels }

    var statisticCount: Int {
        switch grouping {
        case .batch: return channels
        case .instance: return planes
        case .group(let groups): return batch * groups
        }
    }

    /// The statistic of plane (n, c) = plane index n * C + c.
    func statistic(ofPlane plane: Int) -> Int {
        switch grouping {
        case .batch: return plane % channels
        case .instance: return plane
        case .group(let groups): return (plane / channels) * groups + (plane % channels) / (channels / groups)
        }
    }

    var elementsPerStatistic: Int { planes * spatial / statisticCount }
}

/// Per-statistic mean and 1/sqrt(var + eps) (biased variance), and the biased variance itself.
struct NormActivationStatistics {
    var mean: [Double]
    var variance: [Double]
    var inverseStd: [Double]

    /// Two passes per plane (mean, then centred squares), merged per statistic with Chan's rule.
    init(_ x: UnsafePointer<Float>, _ layout: NormActivationLayout, eps: Float) {
        let spatial = layout.spatial
        var planeMean = [Double](repeating: 0, count: layout.planes)
        var planeSquares = [Double](repeating: 0, count: layout.planes)
        planeMean.withUnsafeMutableBufferPointer { means in
            planeSquares.withUnsafeMutableBufferPointer { squares in
                let means = means, squares = squares
                Parallel.forEach(layout.planes) { plane in
                    let row = x + plane * spatial
                    let m = FusedLoops.sum(row, spatial) / Double(max(spatial, 1))
                    means[plane] = m
                    squares[plane] = FusedLoops.centredSquares(row, spatial, mean: Float(m))
                }
            }
        }
        let count = layout.statisticCount
        var total = [Double](repeating: 0, count: count), planesIn = [Double](repeating: 0, count: count)
        for plane in 0..<layout.planes {
            let s = layout.statistic(ofPlane: plane)
            total[s] += planeMean[plane]
            planesIn[s] += 1
        }
        mean = (0..<count).map { total[$0] / planesIn[$0] }
        var squares = [Double](repeating: 0, count: count)
        for plane in 0..<layout.planes {
            let s = layout.statistic(ofPlane: plane), d = planeMean[plane] - mean[s]
            squares[s] += planeSquares[plane] + Double(spatial) * d * d
        }
        let n = Double(layout.elementsPerStatistic)
        variance = squares.map { $0 / n }
        inverseStd = variance.map { 1 / ($0 + Double(eps)).squareRoot() }
    }
}

/// The norm layer's parameters and statistics rule, read from the layer.
struct NormActivationParameters {
    let weight: Tensor, bias: Tensor, eps: Float
    let grouping: NormActivationLayout.Grouping
    /// BatchNorm in training mode with updating on: where and how to update the running estimates.
    let running: (mean: Tensor, variance: Tensor, momentum: Float)?

    /// nil for a layer this op does not cover (BatchNorm in evaluation mode normalises with fixed
    /// statistics, a cheap affine map that the plain path handles).
    init?(_ norm: Module) {
        if let bn = norm as? BatchNorm {
            guard bn.isTraining else { return nil }
            weight = bn.weight; bias = bn.bias; eps = bn.eps; grouping = .batch
            running = bn.updatesRunningStatistics ? (bn.runningMean, bn.runningVar, bn.momentum) : nil
        } else if let instance = norm as? InstanceNorm {
            weight = instance.weight; bias = instance.bias; eps = instance.eps; grouping = .instance; running = nil
        } else if let group = norm as? GroupNorm {
            weight = group.weight; bias = group.bias; eps = group.eps; grouping = .group(group.groups); running = nil
        } else {
            return nil
        }
    }
}

/// y = SiLU(norm(x)) without recording (the forward of both fused ops).
func normSiLUForward(_ x: Tensor, _ p: NormActivationParameters) -> Tensor {
    let layout = NormActivationLayout(shape: x.shape, grouping: p.grouping)
    precondition(p.weight.count == layout.channels, "normSiLU: \(p.weight.count) weights for \(layout.channels) channels")
    let out = Tensor.empty(x.shape, planned: x.isPlanned || p.weight.isPlanned)
    if out.isPlanned { return out }
    let stats = NormActivationStatistics(x.data, layout, eps: p.eps)
    if let running = p.running, !running.mean.isPlanned {
        precondition(layout.elementsPerStatistic > 1, "BatchNorm training needs more than one value per channel, got \(x.shape)")
        let unbiased = Double(layout.elementsPerStatistic) / Double(layout.elementsPerStatistic - 1)
        let m = Double(running.momentum)
        for c in 0..<layout.channels {
            running.mean.data[c] = Float((1 - m) * Double(running.mean.data[c]) + m * stats.mean[c])
            running.variance.data[c] = Float((1 - m) * Double(running.variance.data[c]) + m * stats.variance[c] * unbiased)
        }
    }
    let gamma = p.weight.toArray(), beta = p.bias.toArray()
    let src = UnsafePointer(x.data), dst = out.data, spatial = layout.spatial
    Parallel.forEach(layout.planes) { plane in
        let s = layout.statistic(ofPlane: plane), c = plane % layout.channels
        let scale = Float(Double(gamma[c]) * stats.inverseStd[s])
        let shift = beta[c] - Float(stats.mean[s]) * scale
        FusedLoops.affineSiLU(src + plane * spatial, dst + plane * spatial, spatial, scale: scale, shift: shift)
    }
    return out
}

/// The gradients of SiLU(norm(x)) for the output gradient `gy`: input, weight, bias. Statistics
/// are recomputed from x (the norm's batch statistics are a function of x, so this is exact).
func normSiLUBackward(_ x: Tensor, _ gy: Tensor, _ p: NormActivationParameters, needsInput: Bool)
    -> (input: Tensor?, weight: Tensor, bias: Tensor) {
    let layout = NormActivationLayout(shape: x.shape, grouping: p.grouping)
    let planned = x.isPlanned || gy.isPlanned || p.weight.isPlanned
    let gx = needsInput ? Tensor.empty(x.shape, planned: planned) : nil
    let gw = Tensor.empty([layout.channels], planned: planned), gb = Tensor.empty([layout.channels], planned: planned)
    if planned { return (gx, gw, gb) }
    let stats = NormActivationStatistics(x.data, layout, eps: p.eps)
    let gamma = p.weight.toArray(), beta = p.bias.toArray()
    let spatial = layout.spatial, planes = layout.planes
    let xs = UnsafePointer(x.data), gys = UnsafePointer(gy.data)
    // Pass 1: per plane, Σ gz and Σ gz·x̂, where gz is the gradient at the norm's output.
    var sumGradient = [Double](repeating: 0, count: planes), sumGradientNormalised = [Double](repeating: 0, count: planes)
    sumGradient.withUnsafeMutableBufferPointer { a in
        sumGradientNormalised.withUnsafeMutableBufferPointer { b in
            let a = a, b = b
            Parallel.forEach(planes) { plane in
                let s = layout.statistic(ofPlane: plane), c = plane % layout.channels
                let sums = FusedLoops.gradientSums(xs + plane * spatial, gys + plane * spatial, spatial,
                                                   mean: Float(stats.mean[s]), inverseStd: Float(stats.inverseStd[s]),
                                                   gamma: gamma[c], beta: beta[c])
                a[plane] = sums.gradient
                b[plane] = sums.gradientTimesNormalised
            }
        }
    }
    var weightGradient = [Double](repeating: 0, count: layout.channels), biasGradient = weightGradient
    var meanA = [Double](repeating: 0, count: layout.statisticCount), meanB = meanA
    for plane in 0..<planes {
        let c = plane % layout.channels, s = layout.statistic(ofPlane: plane)
        weightGradient[c] += sumGradientNormalised[plane]
        biasGradient[c] += sumGradient[plane]
        // The gradient at x̂ is γ·gz: its mean and its mean against x̂ over each statistic.
        meanA[s] += Double(gamma[c]) * sumGradient[plane]
        meanB[s] += Double(gamma[c]) * sumGradientNormalised[plane]
    }
    for c in 0..<layout.channels {
        gw.data[c] = Float(weightGradient[c])
        gb.data[c] = Float(biasGradient[c])
    }
    if let gx {
        let n = Double(layout.elementsPerStatistic), out = gx.data
        // Pass 2: dx = inverseStd · (γ·gz − mean(γ·gz) − x̂ · mean(γ·gz·x̂)).
        Parallel.forEach(planes) { plane in
            let s = layout.statistic(ofPlane: plane), c = plane % layout.channels
            FusedLoops.inputGradient(xs + plane * spatial, gys + plane * spatial, out + plane * spatial, spatial,
                                     mean: Float(stats.mean[s]), inverseStd: Float(stats.inverseStd[s]),
                                     gamma: gamma[c], beta: beta[c],
                                     meanGradient: Float(meanA[s] / n), meanGradientTimesNormalised: Float(meanB[s] / n))
        }
    }
    return (gx, gw, gb)
}

/// Adds a computed gradient into a parameter's `grad`, as autograd does for leaves.
func accumulateParameterGradient(_ parameter: Tensor, _ gradient: Tensor) {
    guard parameter.requiresGrad else { return }
    if let existing = parameter.grad { existing.addInPlace(gradient) } else { parameter.grad = gradient }
}

extension MBConv {
    /// SiLU(norm(x)) keeping only x (see the top of this file).
    func fusedNormSiLU(_ x: Tensor, _ p: NormActivationParameters) -> Tensor {
        let y = normSiLUForward(x, p)
        let saved = x.detached(), needsInput = x.needsGrad
        // Weight and bias are inputs only so that a node is recorded; their gradients go straight
        // into `grad` (returned as nil), like the parameters of a checkpoint.
        return Tensor.record("norm_silu", output: y, inputs: [x, p.weight, p.bias]) { gy in
            let grads = normSiLUBackward(saved, gy, p.frozen, needsInput: needsInput)
            accumulateParameterGradient(p.weight, grads.weight)
            accumulateParameterGradient(p.bias, grads.bias)
            return [grads.input, nil, nil]
        }
    }

    /// SiLU(norm(expand(x))) keeping only x, the branch's narrow input: backward recomputes the
    /// expansion (a 1x1x1 GEMM) instead of keeping its e-times wider output.
    func fusedExpandNormSiLU(_ x: Tensor, _ p: NormActivationParameters) -> Tensor {
        let y = withNoGrad { normSiLUForward(expand(x), p) }
        guard GradMode.isEnabled else { return y }
        let saved = x.detached(), needsInput = x.needsGrad
        let expandLayer = expand
        return Tensor.record("expand_norm_silu", output: y, inputs: [x, expandLayer.weight, p.weight, p.bias]) { gy in
            let input = saved.detached()
            input.requiresGrad = needsInput
            var expanded: Tensor? = GradMode.withGrad { expandLayer(input) }
            let grads = normSiLUBackward(expanded!, gy, p.frozen, needsInput: true)
            accumulateParameterGradient(p.weight, grads.weight)
            accumulateParameterGradient(p.bias, grads.bias)
            Tensor.backward(roots: [expanded!], gradients: [grads.input!])
            expanded = nil
            let gx = input.grad
            input.grad = nil
            return [gx, nil, nil, nil]
        }
    }
}

extension NormActivationParameters {
    /// The same layer without running-statistics updates (backward only reads statistics).
    var frozen: NormActivationParameters {
        NormActivationParameters(weight: weight, bias: bias, eps: eps, grouping: grouping, running: nil)
    }

    init(weight: Tensor, bias: Tensor, eps: Float, grouping: NormActivationLayout.Grouping,
         running: (mean: Tensor, variance: Tensor, momentum: Float)?) {
        self.weight = weight; self.bias = bias; self.eps = eps; self.grouping = grouping; self.running = running
    }
}
