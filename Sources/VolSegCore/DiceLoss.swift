import Foundation

/// Soft Dice loss of softmax(logits) against class indices (`target` as for `crossEntropyLoss`):
///
///     1 - mean_c (2 Σ p_c y_c + smooth) / (Σ p_c + Σ y_c + smooth)
///
/// with p = softmax over the channel axis and y the one-hot target. `batchDice` (nnU-Net's
/// default for 3D) sums over the batch and all voxels, one term per class; otherwise every sample
/// has its own terms and the mean runs over samples and classes. The mean covers classes 1..<C
/// unless `includeBackground`. Returns a one-element tensor; backward goes to the logits and
/// recomputes the softmax from them, so only the logits are kept.
///
/// `across`: the ranks of a data-parallel run. With batch Dice the sums are those of the whole
/// batch over all ranks (`distributedBatchDiceTotals`); per-sample Dice needs nothing of the others.
public func softDiceLoss(_ logits: Tensor, target: Tensor, smooth: Float = 1e-5,
                         includeBackground: Bool = false, batchDice: Bool = true,
                         across ranks: (any ProcessGroup)? = nil) -> Tensor {
    checkTargets(logits, target, name: "softDiceLoss")
    let blocks = ChannelBlocks(channelsFirst: logits.shape)
    let batch = blocks.outer, channels = blocks.channels, inner = blocks.inner
    let firstClass = includeBackground ? 0 : 1
    precondition(channels > firstClass, "softDiceLoss: \(channels) channels leave no class to score")
    let planned = logits.isPlanned || target.isPlanned
    let out = Tensor.empty([1], planned: planned)

    // Per (sample, class) gradient constants: dL/dp_c = slope * y_c + offset.
    var slope = [Float](repeating: 0, count: batch * channels), offset = slope
    if !planned {
        let x = UnsafePointer(logits.data), t = UnsafePointer(target.data)
        // Per task and class: Σ p y, Σ p, Σ y.
        var partial = [Double](repeating: 0, count: blocks.taskCount * channels * 3)
        partial.withUnsafeMutableBufferPointer { sums in
            let sums = sums
            blocks.forEachBlock { task, o, start, count in
                withUnsafeTemporaryAllocation(of: Lanes.self, capacity: channels) { e in
                    let base = blocks.base(o, start)
                    let classes = loadPartial(t + o * inner + start, count: count)
                    let sum = softmaxBlock(x + base, stride: inner, channels: channels, count: count, into: e.baseAddress!)
                    let valid = laneMask(count: count)
                    let reciprocal = (1 / sum).replacing(with: 0, where: .!valid)
                    var matched = SIMDMask<SIMD16<Int32>>()
                    for c in 0..<channels {
                        let p = e[c] * reciprocal
                        let hit = (classes .== Float(c)) .& valid
                        matched = matched .| hit
                        let y = Lanes().replacing(with: 1, where: hit)
                        let slot = (task * channels + c) * 3
                        sums[slot] += Double((p * y).sum())
                        sums[slot + 1] += Double(p.sum())
                        sums[slot + 2] += Double(y.sum())
                    }
                    if any(valid .& .!matched) { invalidTarget("softDiceLoss", classes, count: count, classes: channels) }
                }
            }
        }
        // Group the sums: one term per class (batch Dice) or per sample and class.
        let groups = batchDice ? 1 : batch
        var totals = [Double](repeating: 0, count: groups * channels * 3)
        for task in 0..<blocks.taskCount {
            let group = batchDice ? 0 : task / blocks.chunksPerOuter
            for i in 0..<(channels * 3) { totals[group * channels * 3 + i] += partial[task * channels * 3 + i] }
        }
        let rankScale = batchDice ? distributedBatchDiceTotals(&totals, across: ranks) : 1
        let terms = Double(groups * (channels - firstClass)), s = Double(smooth)
        var meanScore = 0.0
        for group in 0..<groups {
            for c in firstClass..<channels {
                let slot = (group * channels + c) * 3
                let numerator = 2 * totals[slot] + s, denominator = totals[slot + 1] + totals[slot + 2] + s
                meanScore += numerator / denominator / terms
                let a = Float(-2 * rankScale / (terms * denominator))
                let b = Float(numerator * rankScale / (terms * denominator * denominator))
                for n in 0..<batch where batchDice || n == group {
                    slope[n * channels + c] = a
                    offset[n * channels + c] = b
                }
            }
        }
        out.data[0] = Float(1 - meanScore)
    }

    let savedLogits = logits.detached(), savedTarget = target.detached()
    return Tensor.record("soft_dice", output: out, inputs: [logits]) { g in
        let gx = Tensor.empty(savedLogits.shape, planned: g.isPlanned || savedLogits.isPlanned || savedTarget.isPlanned)
        if gx.isPlanned { return [gx] }
        let x = UnsafePointer(savedLogits.data), t = UnsafePointer(savedTarget.data), gxp = gx.data
        let scale = g.data[0]
        blocks.forEachBlock { _, o, start, count in
            withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 2 * channels) { buffer in
                let e = buffer.baseAddress!, gp = e + channels
                let base = blocks.base(o, start)
                let classes = loadPartial(t + o * inner + start, count: count)
                let reciprocal = 1 / softmaxBlock(x + base, stride: inner, channels: channels, count: count, into: e)
                // Softmax backward: gx_c = p_c * (gp_c - Σ_k p_k gp_k).
                var dot = Lanes()
                for c in 0..<channels {
                    e[c] *= reciprocal
                    let k = o * channels + c
                    gp[c] = Lanes(repeating: offset[k]).replacing(with: offset[k] + slope[k], where: classes .== Float(c))
                    dot.addProduct(e[c], gp[c])
                }
                for c in 0..<channels {
                    storePartial(e[c] * (gp[c] - dot) * scale, gxp + base + c * inner, count: count)
                }
            }
        }
        return [gx]
    }
}

/// Batch Dice over the ranks of a data-parallel run, as nnU-Net's DDP computes it: each rank's
/// Σ p y, Σ p, Σ y are summed over all ranks in place, so every rank computes the loss one process
/// would on the whole batch. Returns the factor for this rank's gradient: the ranks' gradients
/// are averaged afterwards (divided by the rank count), while the whole batch's gradient is the sum
/// of the ranks' shares, so each share is scaled by the rank count (nnU-Net's all-gather with
/// gradient does the same by summing the identical upstream gradient of every rank).
func distributedBatchDiceTotals(_ totals: inout [Double], across ranks: (any ProcessGroup)?) -> Double {
    guard let ranks, ranks.size > 1 else { return 1 }
    ranks.sum(&totals, operation: "batch Dice sums")
    return Double(ranks.size)
}
