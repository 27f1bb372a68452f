import Foundation

/// Where the windows of a sliding-window prediction lie on a volume, nnU-Net's rule
/// (`compute_steps_for_sliding_window`): along an axis of `size` voxels with windows of `patch`,
/// n = ceil((size - patch) / (patch * step)) + 1 windows, spread evenly from the first voxel to the
/// last, so the first window starts at 0 and the last ends at `size`, and neighbours overlap by at
/// least 1 - step of a patch. Shapes are [D, H, W]; the volume must be at least the patch (see
/// `padding(for:patch:)`).
public struct SlidingWindow: Equatable, Sendable {
    /// [D, H, W] of the volume the windows cover.
    public let volumeShape: [Int]
    /// [D, H, W] of one window.
    public let patch: [Int]
    /// The step as a share of the patch (0.5: windows advance by at most half a patch).
    public let step: Double
    /// Window starts along D, H and W.
    public let starts: [[Int]]

    public init(volumeShape: [Int], patch: [Int], step: Double = 0.5) {
        precondition(volumeShape.count == 3 && patch.count == 3, "sliding window takes [D, H, W] shapes")
        precondition(step > 0 && step <= 1, "step \(step) must be in (0, 1]")
        self.volumeShape = volumeShape
        self.patch = patch
        self.step = step
        starts = (0..<3).map { SlidingWindow.starts(size: volumeShape[$0], patch: patch[$0], step: step) }
    }

    /// Window starts along one axis.
    public static func starts(size: Int, patch: Int, step: Double) -> [Int] {
        precondition(patch >= 1 && size >= patch, "a window of \(patch) does not fit \(size) voxels; pad first")
        // A step below one voxel (a 2D configuration's windows are one slice deep) would visit
        // voxels twice: every start then advances by one voxel, as nnU-Net's 2D loop over slices does.
        let count = Int((Double(size - patch) / max(Double(patch) * step, 1)).rounded(.up)) + 1
        if count == 1 { return [0] }
        let stride = Double(size - patch) / Double(count - 1)
        // numpy's round (half to even), so the positions are nnU-Net's to the voxel.
        return (0..<count).map { Int((stride * Double($0)).rounded(.toNearestOrEven)) }
    }

    public var windowCount: Int { starts.reduce(1) { $0 * $1.count } }

    /// Every window's start [d, h, w], D outermost, W innermost.
    public var windows: [[Int]] {
        starts[0].flatMap { d in starts[1].flatMap { h in starts[2].map { w in [d, h, w] } } }
    }

    /// The (before, after) padding per axis that makes a volume of `shape` at least `patch`,
    /// split as nnU-Net's `pad_nd_image` splits it: half before (rounded down), the rest after.
    public static func padding(for shape: [Int], patch: [Int]) -> [(before: Int, after: Int)] {
        zip(shape, patch).map { size, window in
            let missing = max(0, window - size)
            return (missing / 2, missing - missing / 2)
        }
    }

    /// The smallest window at least `patch` along each axis that the model's `divisor` divides:
    /// a network with k stride-2 stages needs sizes divisible by 2^k.
    public static func window(patch: [Int], divisor: [Int]) -> [Int] {
        zip(patch, divisor).map { size, d in (size + d - 1) / d * d }
    }
}
