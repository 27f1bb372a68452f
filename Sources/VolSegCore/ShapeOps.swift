import Foundation

// Reshape, slicing, concatenation and padding. Reshape shares storage (tensors are contiguous);
// the others copy, one contiguous run of the innermost axes at a time.

extension Tensor {
    /// The same values under another shape (one dimension may be -1). Shares storage.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[unknown] = count / known
        }
        precondition(Tensor.elementCount(resolved) == count, "cannot reshape \(shape) to \(newShape)")
        let out = Tensor(shape: resolved, storage: storage)
        let original = shape
        return Tensor.record("reshape", output: out, inputs: [self]) { g in [g.reshaped(original)] }
    }

    /// Elements `range` along `axis`, copied into a new tensor.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        precondition(axis >= 0 && axis < rank, "axis \(axis) out of range for \(shape)")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[axis], "slice \(range) out of \(shape)")
        var outShape = shape
        outShape[axis] = range.count
        let out = Tensor.empty(outShape, planned: isPlanned)
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        if !isPlanned {
            let src = data, dst = out.data
            let run = range.count * inner
            Parallel.forEachChunk(outer, minimumChunk: max(1, 65536 / max(run, 1))) { rows in
                for o in rows {
                    (dst + o * run).update(from: src + (o * shape[axis] + range.lowerBound) * inner, count: run)
                }
            }
        }
        let inputShape = shape
        return Tensor.record("slice", output: out, inputs: [self]) { g in
            var pads = [(Int, Int)](repeating: (0, 0), count: inputShape.count)
            pads[axis] = (range.lowerBound, inputShape[axis] - range.upperBound)
            return [g.padded(pads)]
        }
    }

    /// The shape `concat(tensors, axis:)` returns; all other dimensions must agree.
    static func concatenatedShape(_ tensors: [Tensor], axis: Int) -> [Int] {
        precondition(!tensors.isEmpty, "concat of nothing")
        let first = tensors[0].shape
        for t in tensors {
            precondition(t.rank == first.count, "concat: ranks differ")
            for a in 0..<first.count where a != axis {
                precondition(t.shape[a] == first[a], "concat along \(axis): \(t.shape) vs \(first)")
            }
        }
        var shape = first
        shape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
        return shape
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
        let outShape = concatenatedShape(tensors, axis: axis)
        let first = tensors[0].shape
        let planned = tensors.contains { $0.isPlanned }
        let out = Tensor.empty(outShape, planned: planned)
        let outer = first[..<axis].reduce(1, *)
        let inner = first[(axis + 1)...].reduce(1, *)
        if !planned { OpProfile.measure("concat") {
            let dst = out.data
            let outRun = outShape[axis] * inner
            var offset = 0
            for t in tensors {
                let run = t.shape[axis] * inner
                let src = t.data, start = offset
                if outer < Parallel.threadCount {
                    // A U-Net's skip concat is one sample (outer 1): split each copy itself over
                    // the cores rather than copy it on one.
                    for o in 0..<outer {
                        let from = src + o * run, to = dst + o * outRun + start
                        Parallel.forEachChunk(run, minimumChunk: 1 << 16) { range in
                            (to + range.lowerBound).update(from: from + range.lowerBound, count: range.count)
                        }
                    }
                } else {
                    Parallel.forEachChunk(outer, minimumChunk: max(1, 65536 / max(run, 1))) { rows in
                        for o in rows { (dst + o * outRun + start).update(from: src + o * run, count: run) }
                    }
                }
                offset += run
            }
        } }
        let sizes = tensors.map { $0.shape[axis] }
        return record("concat", output: out, inputs: tensors) { g in
            var start = 0
            return sizes.map { size in
                defer { start += size }
                return g.slice(axis: axis, start..<(start + size))
            }
        }
    }

    /// Pads with `value`: `pads[axis] = (before, after)`. Negative amounts crop.
    public func padded(_ pads: [(Int, Int)], value: Float = 0) -> Tensor {
        precondition(pads.count == rank, "padded: \(pads.count) pads for rank \(rank)")
        let outShape = zip(shape, pads).map { $0 + $1.0 + $1.1 }
        precondition(outShape.allSatisfy { $0 >= 0 }, "padding \(pads) crops \(shape) below zero")
        let out = Tensor.empty(outShape, planned: isPlanned)
        if !isPlanned {
            out.fill(value)
            copyRegion(from: self, to: out, offsets: pads.map { $0.0 })
        }
        let inputShape = shape
        return Tensor.record("pad", output: out, inputs: [self]) { g in
            let crops = pads.map { (-$0.0, -$0.1) }
            let gx = g.padded(crops)
            precondition(gx.shape == inputShape)
            return [gx]
        }
    }
}

/// Copies the overlap of `source` placed at `offsets` (per axis, may be negative) into `target`.
/// Innermost-axis runs are copied whole; outer indices are walked with a counter.
func copyRegion(from source: Tensor, to target: Tensor, offsets: [Int]) {
    let rank = source.rank
    if rank == 0 { target.data[0] = source.data[0]; return }
    // For each axis, the source range that lands inside the target.
    var lo = [Int](repeating: 0, count: rank), hi = [Int](repeating: 0, count: rank)
    for a in 0..<rank {
        lo[a] = max(0, -offsets[a])
        hi[a] = min(source.shape[a], target.shape[a] - offsets[a])
        if hi[a] <= lo[a] { return }
    }
    let sStrides = source.strides, tStrides = target.strides
    let last = rank - 1
    let run = hi[last] - lo[last]
    let outerCount = (0..<last).reduce(1) { $0 * (hi[$1] - lo[$1]) }
    let src = source.data, dst = target.data
    Parallel.forEachChunk(outerCount, minimumChunk: max(1, 16384 / max(run, 1))) { rows in
        var index = [Int](repeating: 0, count: max(last, 1))
        for r in rows {
            var rem = r
            for a in stride(from: last - 1, through: 0, by: -1) {
                let extent = hi[a] - lo[a]
                index[a] = lo[a] + rem % extent
                rem /= extent
            }
            var s = lo[last] * sStrides[last], t = (lo[last] + offsets[last]) * tStrides[last]
            for a in 0..<last {
                s += index[a] * sStrides[a]
                t += (index[a] + offsets[a]) * tStrides[a]
            }
            (dst + t).update(from: src + s, count: run)
        }
    }
}
