import Foundation
import VolSegCore
import VolSegModels

/// Sliding-window prediction over a whole preprocessed volume, nnU-Net's scheme: windows of the
/// training patch at a step of half a patch (`SlidingWindow`), each window's probabilities
/// weighted by a Gaussian (`GaussianImportance`), optionally averaged over the 8 mirrorings
/// (`InferenceMirroring`), summed into one accumulator and divided by the summed weights.
///
/// Memory: the accumulator ([K, D, H, W] probabilities and [D, H, W] weights) is the only thing
/// that grows with the volume; windows are predicted one at a time and added in as they come, so
/// a full-size scan needs the accumulator plus one window's forward pass. The network runs under
/// no-grad. Planned (shape-only) images are followed exactly, allocating what a real run would,
/// so `MemoryLedger` reports the real peak without any arithmetic.
public struct SlidingWindowInference {
    public let model: SegmentationModel
    public let output: SegmentationOutput
    /// The window [D, H, W]: the training patch rounded up to the model's size divisor.
    public let window: [Int]
    /// Window step as a share of the window (nnU-Net's `step_size`, 0.5).
    public var step: Double
    /// Average over the 8 mirrorings of each window (8 times the work).
    public var mirroring: Bool
    /// The spatial axes mirroring flips (every subset of them is one prediction).
    public var mirrorAxes: [Int] = [0, 1, 2]
    /// Average the windows' logits instead of their probabilities (nnU-Net averages logits over
    /// windows, mirrorings and folds and applies softmax once at export).
    public var averagesLogits = false
    /// Accumulate as stock nnU-Net does on every device: the Gaussian scaled to 10 and rounded to
    /// float16 (zeros raised to its smallest value), the mirror-averaged window times the Gaussian
    /// added into float16 sums, float16 weights and a float16 quotient. Only for comparing with
    /// `nnUNetv2_predict` to the last bit; Float32 (the default) is the more accurate answer.
    public var halfPrecisionAccumulation = false

    /// Puts the model in evaluation mode (BatchNorm uses its running statistics).
    public init(model: SegmentationModel, output: SegmentationOutput, patch: [Int], step: Double = 0.5,
                mirroring: Bool = false) {
        precondition(patch.count == 3 && patch.allSatisfy { $0 >= 1 }, "patch is [D, H, W], got \(patch)")
        precondition(step > 0 && step <= 1, "step \(step) must be in (0, 1]")
        precondition(output.channelCount == model.classCount,
                     "the output describes \(output.channelCount) channels, the model has \(model.classCount)")
        self.model = model
        self.output = output
        self.window = SlidingWindow.window(patch: patch, divisor: model.sizeDivisor)
        self.step = step
        self.mirroring = mirroring
        model.eval()
    }

    /// The windows a volume of [D, H, W] is cut into (after padding to at least the window).
    public func layout(for shape: [Int]) -> SlidingWindow {
        let padded = zip(shape, window).map { max($0, $1) }
        return SlidingWindow(volumeShape: padded, patch: window, step: step)
    }

    /// Preprocessed image [C, D, H, W] -> probabilities [K, D, H, W] (each voxel's channels sum to
    /// 1 for softmax outputs). `progress(done, total)` is called after every window.
    public func predict(_ image: Tensor, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) -> Tensor {
        precondition(image.rank == 4 && image.shape[0] == model.inputChannels,
                     "the model takes [\(model.inputChannels), D, H, W], got \(image.shape)")
        return withNoGrad {
            let shape = Array(image.shape.suffix(3))
            let pads = SlidingWindow.padding(for: shape, patch: window)
            let isPadded = pads.contains { $0.before + $0.after > 0 }
            // Zero is the normalised intensity's mean, nnU-Net's padding value.
            let padded = isPadded ? image.padded([(0, 0)] + pads.map { ($0.before, $0.after) }) : image
            let planned = image.isPlanned
            let layout = SlidingWindow(volumeShape: Array(padded.shape.suffix(3)), patch: window, step: step)
            let gaussian = halfPrecisionAccumulation ? GaussianImportance.halfPrecisionMap(patch: window, planned: planned)
                : GaussianImportance.map(patch: window, planned: planned)
            let sums = Tensor.zeros([output.channelCount] + layout.volumeShape, planned: planned)
            let weights = Tensor.zeros(layout.volumeShape, planned: planned)
            let mirrorings = InferenceMirroring.axisSets(enabled: mirroring, over: mirrorAxes)
            let windows = layout.windows
            for (n, start) in windows.enumerated() {
                let x = SlidingWindowInference.extract(padded, start: start, size: window)
                if halfPrecisionAccumulation {
                    // nnU-Net averages the mirrorings in float32 before weighting the window once.
                    let average = predictWindow(x, mirroredAlong: mirrorings[0])
                    for axes in mirrorings.dropFirst() { SlidingWindowInference.add(predictWindow(x, mirroredAlong: axes), into: average) }
                    SlidingWindowInference.accumulateHalf(average, weight: gaussian, scale: 1 / Float(mirrorings.count),
                                                          into: sums, weights: weights, at: start)
                    progress?(n + 1, windows.count)
                    continue
                }
                for axes in mirrorings {
                    let probabilities = predictWindow(x, mirroredAlong: axes)
                    SlidingWindowInference.accumulate(probabilities, weight: gaussian, scale: 1 / Float(mirrorings.count),
                                                      into: sums, at: start)
                }
                SlidingWindowInference.accumulate(weight: gaussian, into: weights, at: start)
                progress?(n + 1, windows.count)
            }
            SlidingWindowInference.divide(sums, by: weights, roundingToHalf: halfPrecisionAccumulation)
            return isPadded ? sums.padded([(0, 0)] + pads.map { (-$0.before, -$0.after) }) : sums
        }
    }

    /// Probabilities [K, d, h, w] for one window [1, C, d, h, w], seen through a mirroring.
    func predictWindow(_ x: Tensor, mirroredAlong axes: [Int]) -> Tensor {
        let input = axes.isEmpty ? x : InferenceMirroring.flipped(x, spatialAxes: axes)
        let logits = model.forward(input)[0]
        let probabilities = (averagesLogits ? logits : output.activate(logits)).reshaped(Array(logits.shape.dropFirst()))
        return axes.isEmpty ? probabilities : InferenceMirroring.flipped(probabilities, spatialAxes: axes)
    }

    /// The window of `size` at `start` of [C, D, H, W], as a batch of one [1, C, d, h, w].
    package static func extract(_ image: Tensor, start: [Int], size: [Int]) -> Tensor {
        let channels = image.shape[0]
        let out = Tensor.empty([1, channels] + size, planned: image.isPlanned)
        if image.isPlanned { return out }
        let full = Array(image.shape.suffix(3)), volume = full.reduce(1, *)
        let src = image.data, dst = out.data
        Parallel.forEach(channels * size[0]) { slab in
            let c = slab / size[0], z = slab % size[0]
            for y in 0..<size[1] {
                let from = src + c * volume + ((start[0] + z) * full[1] + start[1] + y) * full[2] + start[2]
                (dst + ((c * size[0] + z) * size[1] + y) * size[2]).update(from: from, count: size[2])
            }
        }
        return out
    }

    /// sums[k, window at start] += probabilities[k] * weight * scale.
    static func accumulate(_ probabilities: Tensor, weight: Tensor, scale: Float, into sums: Tensor, at start: [Int]) {
        if sums.isPlanned || probabilities.isPlanned { return }
        let size = weight.shape, full = Array(sums.shape.suffix(3))
        let channels = sums.shape[0], volume = full.reduce(1, *), patchVolume = size.reduce(1, *)
        let p = UnsafePointer(probabilities.data), g = UnsafePointer(weight.data), dst = sums.data
        // Slabs (channel, z) never overlap, so workers write without locks.
        Parallel.forEach(channels * size[0]) { slab in
            let c = slab / size[0], z = slab % size[0]
            for y in 0..<size[1] {
                let row = (z * size[1] + y) * size[2]
                let from = p + c * patchVolume + row, w = g + row
                let to = dst + c * volume + ((start[0] + z) * full[1] + start[1] + y) * full[2] + start[2]
                for x in 0..<size[2] { to[x] += from[x] * w[x] * scale }
            }
        }
    }

    /// weights[window at start] += weight.
    static func accumulate(weight: Tensor, into weights: Tensor, at start: [Int]) {
        if weights.isPlanned { return }
        let size = weight.shape, full = weights.shape
        let g = UnsafePointer(weight.data), dst = weights.data
        Parallel.forEach(size[0]) { z in
            for y in 0..<size[1] {
                let w = g + (z * size[1] + y) * size[2]
                let to = dst + ((start[0] + z) * full[1] + start[1] + y) * full[2] + start[2]
                for x in 0..<size[2] { to[x] += w[x] }
            }
        }
    }

    /// sums[k, v] /= weights[v], in place: the weighted average of every window covering v.
    /// `roundingToHalf`: a true division rounded to float16, as torch.div on half tensors.
    static func divide(_ sums: Tensor, by weights: Tensor, roundingToHalf: Bool = false) {
        if sums.isPlanned { return }
        let volume = weights.count, channels = sums.shape[0]
        let s = sums.data, w = UnsafePointer(weights.data)
        Parallel.forEachChunk(volume, minimumChunk: 1 << 15) { range in
            for i in range {
                if roundingToHalf {
                    for c in 0..<channels { s[c * volume + i] = Float(Float16(s[c * volume + i] / w[i])) }
                    continue
                }
                let reciprocal = 1 / w[i]
                for c in 0..<channels { s[c * volume + i] *= reciprocal }
            }
        }
    }

    /// a += b, elementwise.
    static func add(_ b: Tensor, into a: Tensor) {
        if a.isPlanned || b.isPlanned { return }
        let x = UnsafePointer(b.data), y = a.data
        Parallel.forEachChunk(a.count, minimumChunk: 1 << 15) { range in for i in range { y[i] += x[i] } }
    }

    /// The float16 accumulation of `halfPrecisionAccumulation`: sums = half(sums + p * scale * g)
    /// and weights = half(weights + g), where the window's product is formed in float32 as torch
    /// forms `prediction *= gaussian` before the in-place add into a half tensor.
    static func accumulateHalf(_ window: Tensor, weight: Tensor, scale: Float, into sums: Tensor, weights: Tensor, at start: [Int]) {
        if sums.isPlanned || window.isPlanned { return }
        let size = weight.shape, full = Array(sums.shape.suffix(3))
        let channels = sums.shape[0], volume = full.reduce(1, *), patchVolume = size.reduce(1, *)
        let p = UnsafePointer(window.data), g = UnsafePointer(weight.data), dst = sums.data, wsum = weights.data
        Parallel.forEach(size[0]) { z in
            for y in 0..<size[1] {
                let row = (z * size[1] + y) * size[2]
                let target = ((start[0] + z) * full[1] + start[1] + y) * full[2] + start[2]
                for c in 0..<channels {
                    let from = p + c * patchVolume + row, to = dst + c * volume + target
                    for x in 0..<size[2] { to[x] = Float(Float16(to[x] + (from[x] * scale) * g[row + x])) }
                }
                for x in 0..<size[2] { wsum[target + x] = Float(Float16(wsum[target + x] + g[row + x])) }
            }
        }
    }
}
