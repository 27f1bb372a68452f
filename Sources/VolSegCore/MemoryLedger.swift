import Foundation

/// The one place that knows how much tensor memory is live.
///
/// Every tensor storage and every kernel scratch buffer is registered here when it is created and
/// released when it dies, so `currentBytes` and `peakBytes` are exact, not sampled. Shape-only
/// ("planned") tensors are counted exactly like real ones: running a model on planned inputs
/// reports the same peak a real run reaches, without allocating or computing anything.
public final class MemoryLedger: @unchecked Sendable {
    public static let shared = MemoryLedger()

    private let lock = NSLock()
    private var live: Int = 0
    private var peak: Int = 0
    private var allocationCount: Int = 0

    public init() {}

    /// Bytes held by live tensors and scratch buffers right now.
    public var currentBytes: Int { lock.withLock { live } }
    /// The most bytes that were live at once since the last `resetPeak()`.
    public var peakBytes: Int { lock.withLock { peak } }
    /// How many storages were registered since the ledger was made (for tests of buffer reuse).
    public var allocations: Int { lock.withLock { allocationCount } }

    /// Forgets the peak: the new peak starts at what is live now.
    public func resetPeak() { lock.withLock { peak = live } }

    func register(bytes: Int) {
        lock.withLock {
            live += bytes
            allocationCount += 1
            if live > peak { peak = live }
        }
    }

    func release(bytes: Int) {
        lock.withLock { live -= bytes }
    }

    /// Runs `body` and returns the peak bytes it added on top of what was live before it started.
    public func measurePeak<R>(_ body: () throws -> R) rethrows -> (result: R, peakBytes: Int) {
        let (before, previousPeak) = lock.withLock { () -> (Int, Int) in
            let saved = peak
            peak = live
            return (live, saved)
        }
        let result = try body()
        let added = lock.withLock { () -> Int in
            let p = peak
            peak = max(previousPeak, p)
            return p - before
        }
        return (result, added)
    }
}
