import Foundation

/// Counts the multiply-adds of the convolutions (conv3d, transposed and depthwise included) that
/// run inside `count`, so a benchmark can state a network's FLOPs and its GFLOP/s as a fraction
/// of the machine's peak without a hand-kept formula per network. A planned (shape-only) forward
/// counts the same work as a real one in no time. Outside `count` a convolution pays one atomic
/// load (`ScopedTally`).
public enum ConvWorkCounter {
    private static let tally = ScopedTally(0)

    /// The multiply-adds of every convolution `body` runs (FLOPs are twice this).
    public static func count(_ body: () throws -> Void) rethrows -> Int {
        try tally.record(body)
    }

    static func add(_ multiplyAdds: Int) {
        tally.add { $0 += multiplyAdds }
    }
}
