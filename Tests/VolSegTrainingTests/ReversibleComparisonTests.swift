import Foundation
@testable import VolSegModels
@testable import VolSegTraining
import XCTest

/// The planner's memory comparison: the searches, and the numbers at 8 GiB (reversible at
/// least 3x the volume, 1.25x the depth and 2x the width of the stored network; MemCNN reached
/// patch edge 144 and base width 72 on the same network).
final class ReversibleComparisonTests: XCTestCase {
    func testLargestFittingFindsEveryThreshold() {
        for cap in [1, 2, 7, 32, 64] {
            for threshold in 0...(cap + 3) {
                var calls = 0
                let found = ReversibleComparison.largestFitting(upTo: cap) { k in calls += 1; return k <= threshold }
                XCTAssertEqual(found, min(threshold, cap), "cap \(cap), threshold \(threshold)")
                XCTAssertLessThanOrEqual(calls, 2 * Int(log2(Double(cap))) + 3, "cap \(cap), threshold \(threshold)")
            }
        }
        for threshold in [0, 1, 5, 13, 100, 1000] {
            XCTAssertEqual(ReversibleComparison.largestFitting(upTo: nil) { $0 <= threshold }, threshold)
        }
    }

    func testStepPeakGrowsWithPatchBlocksAndWidth() {
        let base = RevMBConvUNetConfig()
        let peak = { (c: RevMBConvUNetConfig, e: Int) in ReversibleComparison.stepPeakBytes(c, patchEdge: e) }
        XCTAssertLessThan(peak(base, 32), peak(base, 48))
        var deeper = base
        deeper.blocksPerStage = 4
        var stored = base
        stored.activationMemory = .stored
        var storedDeeper = deeper
        storedDeeper.activationMemory = .stored
        XCTAssertLessThan(peak(stored, 32), peak(storedDeeper, 32))
        XCTAssertLessThan(peak(base, 32), peak(base.withBaseWidth(24), 32))
        XCTAssertLessThan(peak(base, 32), peak(stored, 32))
    }

    func testAtEightGiBTheReversibleNetworkBeatsThePaperAndMemCNN() {
        let result = ReversibleComparison.run(base: RevMBConvUNetConfig(), budgetBytes: 8 << 30)
        let r = result.reversible, p = result.plain
        let gib = { (m: ActivationMemory) in String(format: "%.3f GiB", Double(result.stepPeaks[m]!) / Double(1 << 30)) }
        print("8 GiB: reversible \(r), plain \(p); step peak at 96^3: reversible \(gib(.reversible)), "
              + "reversible stacks only \(gib(.reversibleStacks)), stored \(gib(.stored)); \(result.seconds) s")
        XCTAssertGreaterThan(p.maxPatchEdge, 0)
        XCTAssertGreaterThanOrEqual(pow(Double(r.maxPatchEdge) / Double(p.maxPatchEdge), 3), 3)
        XCTAssertGreaterThanOrEqual(Double(r.maxBlocksPerStage), 1.25 * Double(p.maxBlocksPerStage))
        XCTAssertGreaterThanOrEqual(r.maxBaseWidth, 2 * p.maxBaseWidth)
        XCTAssertGreaterThan(r.maxPatchEdge, 144, "MemCNN's patch edge")
        XCTAssertGreaterThan(r.maxBaseWidth, 72, "MemCNN's base width")
        XCTAssertEqual(r.maxBlocksPerStage, ReversibleComparison.blockCap)
        XCTAssertLessThan(result.stepPeaks[.reversible]!, result.stepPeaks[.reversibleStacks]!)
        XCTAssertLessThan(result.stepPeaks[.reversibleStacks]!, result.stepPeaks[.stored]!)
        // The limits are tight: one step further breaks the budget.
        var stored = RevMBConvUNetConfig()
        stored.activationMemory = .stored
        XCTAssertLessThanOrEqual(ReversibleComparison.stepPeakBytes(stored, patchEdge: p.maxPatchEdge), 8 << 30)
        XCTAssertGreaterThan(ReversibleComparison.stepPeakBytes(stored, patchEdge: p.maxPatchEdge + 16), 8 << 30)
        XCTAssertGreaterThan(ReversibleComparison.stepPeakBytes(RevMBConvUNetConfig(), patchEdge: r.maxPatchEdge + 16), 8 << 30)
    }

    func testABudgetTooSmallForAnythingReportsZeros() {
        let limits = ReversibleComparison.limits(RevMBConvUNetConfig(), budgetBytes: 1 << 20)
        XCTAssertEqual(limits, ReversibleComparison.Limits(maxPatchEdge: 0, maxBlocksPerStage: 0, maxBaseWidth: 0))
    }
}
