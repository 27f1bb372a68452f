import Foundation

// Per-voxel work across the channel axis of [N, C, S] (softmax and the losses). Channels of one
// voxel are S apart, so the kernels take sixteen neighbouring voxels at once: every channel is
// then one contiguous vector load, and exp/log run on whole vectors.

/// Splits [outer, C, inner] into tasks of (outer index, range of inner positions).
struct ChannelBlocks {
    let outer: Int
    let channels: Int
    let inner: Int
    let chunksPerOuter: Int
    let chunkLength: Int

    init(outer: Int, channels: Int, inner: Int) {
        self.outer = outer
        self.channels = channels
        self.inner = inner
        let wanted = (Parallel.threadCount * 4 + max(outer, 1) - 1) / max(outer, 1)
        chunksPerOuter = max(1, min(wanted, inner / 4096))
        chunkLength = ((inner + chunksPerOuter - 1) / chunksPerOuter + 15) / 16 * 16
    }

    /// [N, C, spatial...] with the channel axis 1.
    init(channelsFirst shape: [Int]) {
        precondition(shape.count >= 2, "needs [N, C, ...], got \(shape)")
        self.init(outer: shape[0], channels: shape[1], inner: shape[2...].reduce(1, *))
    }

    var taskCount: Int { outer * chunksPerOuter }

    /// Calls `body(task, outer index, start, count)` for every block of up to 16 positions, tasks in
    /// parallel; `task` indexes per-task partial results.
    func forEachBlock(_ body: (_ task: Int, _ outerIndex: Int, _ start: Int, _ count: Int) -> Void) {
        Parallel.forEach(taskCount) { task in
            let o = task / chunksPerOuter, chunk = task % chunksPerOuter
            let start = min(inner, chunk * chunkLength), end = min(inner, start + chunkLength)
            var i = start
            while i < end {
                body(task, o, i, min(16, end - i))
                i += 16
            }
        }
    }

    /// Offset of channel 0 of position `start` in sample `o`.
    @inline(__always)
    func base(_ o: Int, _ start: Int) -> Int { o * channels * inner + start }
}

/// Softmax of one block: writes exp(x_c - max) into `e[c]` and returns their sum (and the max in
/// `maximum`). Lanes past `count` hold exp(0) = 1, harmless and ignored by callers.
@inline(__always)
func softmaxBlock(_ x: UnsafePointer<Float>, stride: Int, channels: Int, count: Int,
                  into e: UnsafeMutablePointer<Lanes>, maximum: UnsafeMutablePointer<Lanes>? = nil) -> Lanes {
    var m = loadPartial(x, count: count)
    for c in 1..<max(channels, 1) { m = lanesMax(m, loadPartial(x + c * stride, count: count)) }
    maximum?.pointee = m
    var sum = Lanes()
    for c in 0..<channels {
        let v = vectorExp(loadPartial(x + c * stride, count: count) - m)
        e[c] = v
        sum += v
    }
    return sum
}
