import Foundation

/// Region loss (nnU-Net's region-based training): logits [N, R, spatial...], one channel per
/// region; target [N, 1, spatial...] class indices; region r holds the classes with
/// membership[r][c]. Returns bceWeight x BCE + diceWeight x (1 - mean soft Dice), where BCE is the
/// mean binary cross-entropy with logits over every element and the Dice uses p = sigmoid(x)
/// (one term per region over the whole batch with `batchDice`, else per sample and region).
/// Backward keeps only the logits and the target; sums accumulate in Float64.
public func regionDiceBCELoss(_ logits: Tensor, target: Tensor, membership: [[Bool]], smooth: Float = 1e-5,
                              batchDice: Bool = true, diceWeight: Float = 1, bceWeight: Float = 1,
                              across ranks: (any ProcessGroup)? = nil) -> Tensor {
    precondition(logits.rank >= 3, "regionDiceBCELoss: logits must be [N, R, spatial...], got \(logits.shape)")
    let batch = logits.shape[0], regions = logits.shape[1], spatial = logits.shape[2...].reduce(1, *)
    precondition(membership.count == regions, "regionDiceBCELoss: \(membership.count) region definitions for \(regions) channels")
    precondition(target.count == batch * spatial, "regionDiceBCELoss: target \(target.shape) does not match logits \(logits.shape)")
    let classCount = membership.map(\.count).max() ?? 0
    // Flattened lookup: inRegion[r * classCount + c] is 1 when class c is in region r.
    var inRegion = [Float](repeating: 0, count: regions * classCount)
    for r in 0..<regions { for (c, member) in membership[r].enumerated() where member { inRegion[r * classCount + c] = 1 } }
    let planned = logits.isPlanned || target.isPlanned
    let out = Tensor.empty([1], planned: planned)
    let groups = batchDice ? 1 : batch
    // Per (group, region) Dice gradient constants: dL/dp = slope * y + offset.
    var slope = [Float](repeating: 0, count: groups * regions), offset = slope
    let elementCount = Double(batch * regions * spatial)
    let chunks = max(1, min(Parallel.threadCount * 4, spatial / 4096))
    let chunkSize = (spatial + chunks - 1) / chunks

    func label(_ t: UnsafePointer<Float>, _ i: Int) -> Int {
        let c = Int(t[i])
        precondition(c >= 0 && c < classCount && Float(c) == t[i], "regionDiceBCELoss: target holds \(t[i]), not a class index in 0..<\(classCount)")
        return c
    }

    if !planned {
        let x = UnsafePointer(logits.data), t = UnsafePointer(target.data)
        // Per task (n, r, chunk): Σ BCE, Σ p y, Σ p, Σ y.
        var partial = [Double](repeating: 0, count: batch * regions * chunks * 4)
        partial.withUnsafeMutableBufferPointer { sums in
            let sums = sums
            inRegion.withUnsafeBufferPointer { member in
                let member = member
                Parallel.forEach(batch * regions * chunks) { task in
                    let chunk = task % chunks, r = (task / chunks) % regions, n = task / (chunks * regions)
                    let start = chunk * chunkSize, end = min(spatial, start + chunkSize)
                    guard start < end else { return }
                    let xs = x + (n * regions + r) * spatial, ts = t + n * spatial
                    var bce = 0.0, py = 0.0, ps = 0.0, ys = 0.0
                    for i in start..<end {
                        let v = xs[i], y = member[r * classCount + label(ts, i)]
                        let p = 1 / (1 + expf(-v))
                        // max(x, 0) - x y + log(1 + exp(-|x|)): stable for large |x|.
                        bce += Double(max(v, 0) - v * y + log1pf(expf(-abs(v))))
                        py += Double(p * y); ps += Double(p); ys += Double(y)
                    }
                    sums[task * 4] = bce; sums[task * 4 + 1] = py; sums[task * 4 + 2] = ps; sums[task * 4 + 3] = ys
                }
            }
        }
        var bceTotal = 0.0
        var totals = [Double](repeating: 0, count: groups * regions * 3)
        for task in 0..<(batch * regions * chunks) {
            let r = (task / chunks) % regions, n = task / (chunks * regions)
            let slot = ((batchDice ? 0 : n) * regions + r) * 3
            bceTotal += partial[task * 4]
            for k in 0..<3 { totals[slot + k] += partial[task * 4 + 1 + k] }
        }
        let rankScale = batchDice ? distributedBatchDiceTotals(&totals, across: ranks) : 1
        let terms = Double(groups * regions), s = Double(smooth)
        var meanDice = 0.0
        for g in 0..<groups {
            for r in 0..<regions {
                let slot = (g * regions + r) * 3
                let numerator = 2 * totals[slot] + s, denominator = totals[slot + 1] + totals[slot + 2] + s
                meanDice += numerator / denominator / terms
                slope[g * regions + r] = Float(-2 * rankScale / (terms * denominator)) * diceWeight
                offset[g * regions + r] = Float(numerator * rankScale / (terms * denominator * denominator)) * diceWeight
            }
        }
        out.data[0] = Float(Double(bceWeight) * bceTotal / elementCount + Double(diceWeight) * (1 - meanDice))
    }

    let savedLogits = logits.detached(), savedTarget = target.detached()
    let bceScale = bceWeight / Float(elementCount)
    return Tensor.record("region_dice_bce", output: out, inputs: [logits]) { g in
        let gx = Tensor.empty(savedLogits.shape, planned: g.isPlanned || savedLogits.isPlanned || savedTarget.isPlanned)
        if gx.isPlanned { return [gx] }
        let x = UnsafePointer(savedLogits.data), t = UnsafePointer(savedTarget.data), gxp = gx.data
        let scale = g.data[0]
        inRegion.withUnsafeBufferPointer { member in
            let member = member
            Parallel.forEach(batch * regions * chunks) { task in
                let chunk = task % chunks, r = (task / chunks) % regions, n = task / (chunks * regions)
                let start = chunk * chunkSize, end = min(spatial, start + chunkSize)
                guard start < end else { return }
                let k = (batchDice ? 0 : n) * regions + r
                let (a, b) = (slope[k], offset[k])
                let base = (n * regions + r) * spatial
                let xs = x + base, ts = t + n * spatial, gs = gxp + base
                for i in start..<end {
                    let y = member[r * classCount + Int(ts[i])]
                    let p = 1 / (1 + expf(-xs[i]))
                    // BCE: (p - y) / count; Dice: (slope y + offset) * p (1 - p).
                    gs[i] = scale * ((p - y) * bceScale + (a * y + b) * p * (1 - p))
                }
            }
        }
        return [gx]
    }
}
