import Foundation

extension Tensor {
    /// Softmax along `axis` (default 1, the channel axis of [N, C, ...]), computed stably (the
    /// maximum is subtracted first). Backward keeps the output: gx = y * (g - Σ_c g_c y_c).
    public func softmax(axis: Int = 1) -> Tensor {
        precondition(axis >= 0 && axis < rank, "softmax: axis \(axis) out of range for \(shape)")
        let blocks = ChannelBlocks(outer: shape[..<axis].reduce(1, *), channels: shape[axis],
                                   inner: shape[(axis + 1)...].reduce(1, *))
        let out = Tensor.empty(shape, planned: isPlanned)
        if !isPlanned {
            let x = UnsafePointer(data), y = out.data, inner = blocks.inner, channels = blocks.channels
            blocks.forEachBlock { _, o, start, count in
                withUnsafeTemporaryAllocation(of: Lanes.self, capacity: channels) { e in
                    let base = blocks.base(o, start)
                    let sum = softmaxBlock(x + base, stride: inner, channels: channels, count: count, into: e.baseAddress!)
                    let reciprocal = 1 / sum
                    for c in 0..<channels { storePartial(e[c] * reciprocal, y + base + c * inner, count: count) }
                }
            }
        }
        let saved = out.detached()
        return Tensor.record("softmax", output: out, inputs: [self]) { g in
            let gx = Tensor.empty(saved.shape, planned: g.isPlanned || saved.isPlanned)
            if gx.isPlanned { return [gx] }
            let y = UnsafePointer(saved.data), gy = UnsafePointer(g.data), gxp = gx.data
            let inner = blocks.inner, channels = blocks.channels
            blocks.forEachBlock { _, o, start, count in
                let base = blocks.base(o, start)
                var dot = Lanes()
                for c in 0..<channels {
                    dot.addProduct(loadPartial(gy + base + c * inner, count: count),
                                   loadPartial(y + base + c * inner, count: count))
                }
                for c in 0..<channels {
                    let offset = base + c * inner
                    let v = loadPartial(y + offset, count: count) * (loadPartial(gy + offset, count: count) - dot)
                    storePartial(v, gxp + offset, count: count)
                }
            }
            return [gx]
        }
    }
}
