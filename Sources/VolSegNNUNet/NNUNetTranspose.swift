import VolSegCore

/// The plans' `transpose_forward` / `transpose_backward` on the spatial axes of [C, A, B, C'].
enum NNUNetTranspose {
    /// out spatial axis i = input spatial axis `order[i]` (numpy's transpose([0, *[o + 1]])).
    static func spatial(_ t: Tensor, _ order: [Int]) -> Tensor {
        if order == [0, 1, 2] { return t }
        let channels = t.shape[0], input = Array(t.shape.suffix(3))
        let output = order.map { input[$0] }
        let out = Tensor.empty([channels] + output, planned: t.isPlanned)
        if t.isPlanned { return out }
        var inputStrides = [input[1] * input[2], input[2], 1]
        inputStrides = order.map { inputStrides[$0] }
        let volume = input.reduce(1, *)
        let src = t.data, dst = out.data
        Parallel.forEach(channels * output[0]) { slab in
            let c = slab / output[0], a = slab % output[0]
            var o = (c * output[0] + a) * output[1] * output[2]
            for b in 0..<output[1] {
                let base = c * volume + a * inputStrides[0] + b * inputStrides[1]
                for d in 0..<output[2] {
                    dst[o] = src[base + d * inputStrides[2]]
                    o += 1
                }
            }
        }
        return out
    }
}
