import Foundation

/// Counts the multiply-adds of the convolutions (conv3d, transposed and depthwise included) that
/// run inside `count`, so a benchmark can state a network's FLOPs and its GFLOP/s as a fraction
/// of the machine's peak without a hand-kept formula per network. A planned (shape-only) forward
/// counts the same work as a real one in no time. Every convolution call takes the lock once;
/// next to the call's own work (milliseconds) that is nothing.
public enum ConvWorkCounter {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var counting = 0
    nonisolated(unsafe) private static var total = 0

    /// The multiply-adds of every convolution `body` runs (FLOPs are twice this).
    public static func count(_ body: () throws -> Void) rethrows -> Int {
        lock.lock()
        counting += 1
        let start = total
        lock.unlock()
        defer { lock.lock(); counting -= 1; lock.unlock() }
        try body()
        lock.lock()
        defer { lock.unlock() }
        return total - start
    }

    static func add(_ multiplyAdds: Int) {
        lock.lock()
        if counting > 0 { total += multiplyAdds }
        lock.unlock()
    }
}
