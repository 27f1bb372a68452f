@testable import VolSegCore
import VolSegTestSupport
import XCTest

final class MemoryLedgerTests: XCTestCase {
    func testLedgerCountsLiveBytesAndPeakExactly() {
        let ledger = MemoryLedger.shared
        let before = ledger.currentBytes
        let (_, peak) = ledger.measurePeak { () -> Int in
            let a = Tensor.zeros([1000])
            var b: Tensor? = Tensor.zeros([3000])
            XCTAssertEqual(ledger.currentBytes - before, 16_000)
            b = nil
            _ = b
            XCTAssertEqual(ledger.currentBytes - before, 4000)
            return a.count
        }
        XCTAssertEqual(peak, 16_000)
        XCTAssertEqual(ledger.currentBytes, before)
    }

    func testPlannedTensorsAreCountedButHoldNoMemory() {
        let ledger = MemoryLedger.shared
        let before = ledger.currentBytes
        let t = Tensor.planned([64, 64, 64])
        XCTAssertTrue(t.isPlanned)
        XCTAssertNil(t.storage.pointer)
        XCTAssertEqual(ledger.currentBytes - before, 64 * 64 * 64 * 4)
    }

    func testFreedBuffersAreReusedWithoutHoldingMoreThanThePeak() {
        let cache = BufferCache.shared
        cache.trim()
        let ledger = MemoryLedger.shared
        ledger.resetPeak()
        var first: Tensor? = Tensor.zeros([1 << 16])
        let address = first!.storage.pointer
        first = nil
        _ = first
        XCTAssertEqual(cache.cachedBytes, 1 << 18, "a freed 256 KiB buffer within the peak is kept")
        let second = Tensor.empty([1 << 16])
        XCTAssertEqual(second.storage.pointer, address, "the next allocation of that size reuses it")
        XCTAssertEqual(cache.cachedBytes, 0)
        // Live + cached never exceeds the ledger's peak.
        XCTAssertLessThanOrEqual(ledger.currentBytes + cache.cachedBytes, ledger.peakBytes)
        let zeroed = Tensor.zeros([1 << 16])
        XCTAssertEqual(zeroed.sumDouble(), 0, "zeroed allocations are zero even when reused")
    }
}
