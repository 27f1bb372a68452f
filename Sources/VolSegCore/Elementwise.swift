import Foundation

// Elementwise arithmetic on tensors of the same shape, and with scalars. Each op allocates its
// output first (so planning mode counts it), then computes unless the inputs are planned.

extension Tensor {
    /// Applies `f` to every element into a new tensor of the same shape.
    public func map(_ f: @escaping (Float) -> Float) -> Tensor {
        let out = Tensor.empty(shape, planned: isPlanned)
        if isPlanned { return out }
        let x = data, y = out.data
        Parallel.forEachChunk(count, minimumChunk: 1 << 15) { range in
            for i in range { y[i] = f(x[i]) }
        }
        return out
    }

    /// Combines two same-shape tensors elementwise into a new tensor.
    public static func zipMap(_ a: Tensor, _ b: Tensor, _ f: @escaping (Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape, "shapes differ: \(a.shape) vs \(b.shape)")
        let out = Tensor.empty(a.shape, planned: a.isPlanned || b.isPlanned)
        if out.isPlanned { return out }
        let x = a.data, z = b.data, y = out.data
        Parallel.forEachChunk(a.count, minimumChunk: 1 << 15) { range in
            for i in range { y[i] = f(x[i], z[i]) }
        }
        return out
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, +)
        return record("add", output: out, inputs: [a, b]) { g in [g, g] }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, -)
        return record("sub", output: out, inputs: [a, b]) { g in [g, -g] }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, *)
        let aSaved = b.needsGrad ? a : nil, bSaved = a.needsGrad ? b : nil
        return record("mul", output: out, inputs: [a, b]) { g in
            [bSaved.map { zipMap(g, $0, *) }, aSaved.map { zipMap(g, $0, *) }]
        }
    }

    public static prefix func - (a: Tensor) -> Tensor {
        let out = a.map { -$0 }
        return record("neg", output: out, inputs: [a]) { g in [g.map { -$0 }] }
    }

    public static func + (a: Tensor, s: Float) -> Tensor {
        let out = a.map { $0 + s }
        return record("add_scalar", output: out, inputs: [a]) { g in [g] }
    }

    public static func * (a: Tensor, s: Float) -> Tensor {
        let out = a.map { $0 * s }
        return record("mul_scalar", output: out, inputs: [a]) { g in [g.map { $0 * s }] }
    }

    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }

    /// The sum of all elements, as a one-element tensor. Accumulates in Float64.
    public func sum() -> Tensor {
        let out = Tensor.empty([1], planned: isPlanned)
        if !isPlanned { out.data[0] = Float(sumDouble()) }
        let inputShape = shape
        return Tensor.record("sum", output: out, inputs: [self]) { g in
            let value = g.isPlanned ? 0 : g.data[0]
            return [Tensor.full(inputShape, value: value, planned: g.isPlanned)]
        }
    }

    /// The mean of all elements, as a one-element tensor.
    public func mean() -> Tensor { sum() * (1 / Float(max(count, 1))) }

    /// Float64 sum of the elements, computed in parallel chunks (no autograd).
    public func sumDouble() -> Double {
        if isPlanned || count == 0 { return 0 }
        let x = data
        let chunks = max(1, min(Parallel.threadCount * 4, count / 8192))
        var partial = [Double](repeating: 0, count: chunks)
        let size = (count + chunks - 1) / chunks
        partial.withUnsafeMutableBufferPointer { sums in
            let sums = sums
            Parallel.forEach(chunks) { c in
                var s = 0.0
                let end = min(count, (c + 1) * size)
                var i = c * size
                while i < end { s += Double(x[i]); i += 1 }
                sums[c] = s
            }
        }
        return partial.reduce(0, +)
    }

    /// The largest absolute element (no autograd); 0 for an empty or planned tensor.
    public func maxAbs() -> Float {
        if isPlanned || count == 0 { return 0 }
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i])) }
        return m
    }

    /// Multiplies each channel of an `[N, C, ...]` tensor by `scale[n, c]` (shape `[N, C, 1, ...]`),
    /// as squeeze-excitation does.
    public func scaledPerChannel(_ scale: Tensor) -> Tensor {
        precondition(rank >= 2 && scale.count == shape[0] * shape[1],
                     "scale \(scale.shape) does not match [N, C] of \(shape)")
        let planes = shape[0] * shape[1]
        let spatial = count / max(planes, 1)
        let out = Tensor.empty(shape, planned: isPlanned || scale.isPlanned)
        if !out.isPlanned {
            let x = data, s = scale.data, y = out.data
            Parallel.forEach(planes) { p in
                let f = s[p]
                for i in (p * spatial)..<((p + 1) * spatial) { y[i] = x[i] * f }
            }
        }
        let xSaved = self, sSaved = scale
        return Tensor.record("scale_per_channel", output: out, inputs: [self, scale]) { g in
            let gx = g.scaledPerChannel(sSaved)
            let gs = Tensor.empty(sSaved.shape, planned: g.isPlanned)
            if !gs.isPlanned {
                let gp = g.data, xp = xSaved.data, out = gs.data
                Parallel.forEach(planes) { p in
                    var s = 0.0
                    for i in (p * spatial)..<((p + 1) * spatial) { s += Double(gp[i] * xp[i]) }
                    out[p] = Float(s)
                }
            }
            return [gx, gs]
        }
    }
}
