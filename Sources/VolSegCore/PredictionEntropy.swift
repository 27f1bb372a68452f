import Foundation

/// Mean entropy of the predictions of logits [N, K, spatial...], the self-entropy term of
/// progressive adaptation: low entropy = confident predictions on the target.
///
/// Softmax outputs (`sigmoid` false): per voxel H = -sum_k p_k log p_k, averaged over voxels;
/// dH/dz_j = -p_j (log p_j + H). Region outputs (`sigmoid` true): per voxel and channel the binary
/// entropy H = softplus(z) - z sigmoid(z), averaged over voxels and channels; dH/dz = -z s (1 - s).
/// Log-probabilities come from the log-sum-exp, so p = 0 gives 0, never NaN. Sums in Float64.
/// Backward keeps the logits only.
public func meanPredictionEntropy(_ logits: Tensor, sigmoid: Bool) -> Tensor {
    precondition(logits.rank >= 2, "meanPredictionEntropy: logits [N, K, ...], got \(logits.shape)")
    let batch = logits.shape[0], classes = logits.shape[1]
    let spatial = logits.count / max(batch * classes, 1)
    let planned = logits.isPlanned
    let out = Tensor.empty([1], planned: planned)
    let terms = sigmoid ? batch * classes * spatial : batch * spatial
    if !planned {
        let x = UnsafePointer(logits.data)
        let total = entropySum(x, batch: batch, classes: classes, spatial: spatial, sigmoid: sigmoid)
        out.data[0] = Float(total / Double(max(terms, 1)))
    }
    let saved = logits.detached()
    return Tensor.record("prediction_entropy", output: out, inputs: [logits]) { gradient in
        let grad = Tensor.empty(saved.shape, planned: saved.isPlanned || gradient.isPlanned)
        if grad.isPlanned { return [grad] }
        let scale = gradient.data[0] / Float(max(terms, 1))
        let x = UnsafePointer(saved.data), g = grad.data
        Parallel.forEachChunk(batch * spatial, minimumChunk: 4096) { range in
            var logp = [Float](repeating: 0, count: classes)
            for voxel in range {
                let n = voxel / spatial, s = voxel % spatial, base = n * classes * spatial + s
                if sigmoid {
                    for k in 0..<classes {
                        let z = x[base + k * spatial], p = 1 / (1 + expf(-z))
                        g[base + k * spatial] = -z * p * (1 - p) * scale
                    }
                } else {
                    let h = voxelEntropy(x, base: base, stride: spatial, classes: classes, logp: &logp)
                    for k in 0..<classes {
                        g[base + k * spatial] = -expf(logp[k]) * (logp[k] + Float(h)) * scale
                    }
                }
            }
        }
        return [grad]
    }
}

/// Entropy of one voxel's softmax; fills `logp` with its log-probabilities.
@inline(__always)
private func voxelEntropy(_ x: UnsafePointer<Float>, base: Int, stride: Int, classes: Int, logp: inout [Float]) -> Double {
    var top = -Float.infinity
    for k in 0..<classes { top = max(top, x[base + k * stride]) }
    var sum: Float = 0
    for k in 0..<classes { sum += expf(x[base + k * stride] - top) }
    let logSum = logf(sum)
    var h = 0.0
    for k in 0..<classes {
        let lp = x[base + k * stride] - top - logSum
        logp[k] = lp
        h -= Double(expf(lp)) * Double(lp)
    }
    return h
}

private func entropySum(_ x: UnsafePointer<Float>, batch: Int, classes: Int, spatial: Int, sigmoid: Bool) -> Double {
    let lock = NSLock()
    var total = 0.0
    Parallel.forEachChunk(batch * spatial, minimumChunk: 4096) { range in
        var logp = [Float](repeating: 0, count: classes)
        var partial = 0.0
        for voxel in range {
            let n = voxel / spatial, s = voxel % spatial, base = n * classes * spatial + s
            if sigmoid {
                for k in 0..<classes {
                    let z = Double(x[base + k * spatial])
                    let softplus = max(z, 0) + log1p(exp(-abs(z)))
                    partial += softplus - z / (1 + exp(-z))
                }
            } else {
                partial += voxelEntropy(x, base: base, stride: spatial, classes: classes, logp: &logp)
            }
        }
        lock.lock(); total += partial; lock.unlock()
    }
    return total
}
