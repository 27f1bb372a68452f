import Foundation

/// Inverted dropout: each element is zeroed with probability `rate` and the survivors scaled by
/// 1 / (1 - rate), so evaluation needs no rescaling (PyTorch's `F.dropout` in training mode).
///
/// The mask is drawn from `generator` in fixed chunks, each chunk with its own generator seeded from
/// one draw of `generator`: the result depends on the seed only, not on the thread count, and a
/// planned run advances `generator` exactly as a real one does. Backward keeps the mask (one tensor
/// the size of x, counted by the ledger), not x.
public func dropout(_ x: Tensor, rate: Float, generator: inout RandomGenerator) -> Tensor {
    precondition(rate >= 0 && rate < 1, "dropout: rate \(rate) must be in [0, 1)")
    let seed = generator.next()
    let mask = Tensor.empty(x.shape, planned: x.isPlanned)
    if !mask.isPlanned {
        let chunk = 1 << 16, count = x.count, keep = 1 - rate, scale = 1 / (1 - rate)
        let m = mask.data
        Parallel.forEach((count + chunk - 1) / chunk) { index in
            var local = RandomGenerator(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
            for i in (index * chunk)..<min(count, (index + 1) * chunk) {
                m[i] = local.nextUniform() < keep ? scale : 0
            }
        }
    }
    // The mask needs no gradient, so the product's backward keeps only the mask.
    return x * mask
}
