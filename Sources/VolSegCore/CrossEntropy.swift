import Foundation

/// Class labels for the losses: a tensor of class indices stored as floats (exact up to 2^24),
/// shape [N, spatial...] or [N, 1, spatial...], matching logits [N, C, spatial...]. Label maps read
/// from NIfTI are float tensors already, so patches and crops of them need no second code path.
func checkTargets(_ logits: Tensor, _ target: Tensor, name: String) {
    precondition(logits.rank >= 2, "\(name): logits must be [N, C, ...], got \(logits.shape)")
    let spatial = logits.shape[2...].reduce(1, *)
    precondition(target.rank >= 1 && target.shape[0] == logits.shape[0] && target.count == logits.shape[0] * spatial,
                 "\(name): target \(target.shape) does not match logits \(logits.shape) (expected [N, spatial...])")
}

func invalidTarget(_ name: String, _ values: Lanes, count: Int, classes: Int) -> Never {
    let bad = (0..<count).map { values[$0] }.first { !($0 >= 0 && $0 < Float(classes) && $0 == $0.rounded()) }
    preconditionFailure("\(name): target holds \(bad.map { String($0) } ?? "?"), not a class index in 0..<\(classes)")
}

/// Mean cross-entropy of softmax(logits) over the channel axis against class indices, as PyTorch's
/// `cross_entropy(logits, target)`; with `classWeights`, PyTorch's weighted mean
/// Σ w[t] * loss / Σ w[t]. Returns a one-element tensor; backward goes to the logits only.
/// Backward keeps the logits (not the probabilities): a Dice loss on the same logits keeps them
/// too, so the pair holds one tensor, not two.
public func crossEntropyLoss(_ logits: Tensor, target: Tensor, classWeights: [Float]? = nil) -> Tensor {
    checkTargets(logits, target, name: "crossEntropyLoss")
    let blocks = ChannelBlocks(channelsFirst: logits.shape)
    let channels = blocks.channels, inner = blocks.inner
    if let classWeights {
        precondition(classWeights.count == channels,
                     "crossEntropyLoss: \(classWeights.count) class weights for \(channels) classes")
    }
    let weights = classWeights ?? [Float](repeating: 1, count: channels)
    let planned = logits.isPlanned || target.isPlanned
    let out = Tensor.empty([1], planned: planned)
    var weightTotal = 1.0
    if !planned {
        let x = UnsafePointer(logits.data), t = UnsafePointer(target.data)
        var partial = [Double](repeating: 0, count: blocks.taskCount * 2)
        partial.withUnsafeMutableBufferPointer { sums in
            let sums = sums
            blocks.forEachBlock { task, o, start, count in
                withUnsafeTemporaryAllocation(of: Lanes.self, capacity: channels) { e in
                    let base = blocks.base(o, start)
                    let classes = loadPartial(t + o * inner + start, count: count)
                    var maximum = Lanes()
                    let sum = softmaxBlock(x + base, stride: inner, channels: channels, count: count,
                                           into: e.baseAddress!, maximum: &maximum)
                    // -log p_t = log Σ exp(x_c - max) - (x_t - max), without taking log of a
                    // probability that may have underflowed to zero.
                    var target = Lanes(), weight = Lanes()
                    var matched = SIMDMask<SIMD16<Int32>>()
                    for c in 0..<channels {
                        let hit = classes .== Float(c)
                        target.replace(with: loadPartial(x + base + c * inner, count: count), where: hit)
                        weight.replace(with: weights[c], where: hit)
                        matched = matched .| hit
                    }
                    let valid = laneMask(count: count)
                    if any(valid .& .!matched) { invalidTarget("crossEntropyLoss", classes, count: count, classes: channels) }
                    weight.replace(with: 0, where: .!valid)
                    let loss = (weight * (vectorLog(sum) - (target - maximum))).replacing(with: 0, where: .!valid)
                    sums[2 * task] += (SIMD8<Double>(loss.lowHalf) + SIMD8<Double>(loss.highHalf)).sum()
                    sums[2 * task + 1] += (SIMD8<Double>(weight.lowHalf) + SIMD8<Double>(weight.highHalf)).sum()
                }
            }
        }
        var lossTotal = 0.0
        weightTotal = 0
        for task in 0..<blocks.taskCount { lossTotal += partial[2 * task]; weightTotal += partial[2 * task + 1] }
        // PyTorch gives NaN when every weight is zero (0 / 0); so do we.
        out.data[0] = Float(lossTotal / weightTotal)
    }
    let savedLogits = logits.detached(), savedTarget = target.detached(), normaliser = weightTotal
    return Tensor.record("cross_entropy", output: out, inputs: [logits]) { g in
        let gx = Tensor.empty(savedLogits.shape, planned: g.isPlanned || savedLogits.isPlanned || savedTarget.isPlanned)
        if gx.isPlanned { return [gx] }
        let x = UnsafePointer(savedLogits.data), t = UnsafePointer(savedTarget.data), gxp = gx.data
        let scale = g.data[0] / Float(normaliser)
        blocks.forEachBlock { _, o, start, count in
            withUnsafeTemporaryAllocation(of: Lanes.self, capacity: channels) { e in
                let base = blocks.base(o, start)
                let classes = loadPartial(t + o * inner + start, count: count)
                let sum = softmaxBlock(x + base, stride: inner, channels: channels, count: count, into: e.baseAddress!)
                var weight = Lanes()
                for c in 0..<channels { weight.replace(with: weights[c], where: classes .== Float(c)) }
                let factor = weight * scale, reciprocal = 1 / sum
                for c in 0..<channels {
                    var d = e[c] * reciprocal
                    d.replace(with: d - 1, where: classes .== Float(c))
                    storePartial(d * factor, gxp + base + c * inner, count: count)
                }
            }
        }
        return [gx]
    }
}
