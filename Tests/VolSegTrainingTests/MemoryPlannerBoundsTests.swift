import Foundation
@testable import VolSegCore
@testable import VolSegModels
import VolSegTestSupport
@testable import VolSegTraining
import XCTest

/// The planner's arithmetic before any planned tensor: the lower bound never exceeds a real
/// prediction, a plan past the budget or physical memory is refused from it in milliseconds with
/// the figures, and a byte count past 64 bits is a named error rather than a trap.
final class MemoryPlannerBoundsTests: XCTestCase {
    func config(patch: [Int]?, batch: Int? = 2) throws -> PipelineConfig {
        var config = try PipelineConfig.load(TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml"))
        config.patch = PatchSettings(size: patch, batch: batch, recompute: nil)
        return config
    }

    func data(median: [Int] = [32, 32, 32]) throws -> PlanningData {
        PlanningData(channels: 4, labels: try TrainingLabels(convention: .brats2021, target: .regions), medianShape: median,
                     largestValidationShape: [32, 32, 32], cacheBytes: 3 << 20, largestSourceBytes: 1 << 20)
    }

    func testLowerBoundNeverExceedsThePrediction() throws {
        for patch in [[16, 16, 16], [32, 24, 16], [48, 48, 48]] {
            for batch in [1, 2] {
                let plan = try MemoryPlanner(config: try config(patch: patch, batch: batch), data: try data()).plan(budget: nil)
                let bound = try PlanLowerBound(patch: Array(patch.reversed()), batch: batch, channels: 4, outputChannels: 3,
                                               cacheBytes: 3 << 20, pipeline: "tiny").bytes
                XCTAssertLessThanOrEqual(bound, plan.predictedPeakBytes, "patch \(patch) batch \(batch)")
                print("patch \(patch) batch \(batch): bound \(bound), predicted \(plan.predictedPeakBytes)")
            }
        }
    }

    func testHugePatchIsRefusedFromItsBoundInMilliseconds() throws {
        let physical = 16 << 30
        for budget in [nil, 2 << 30, 1 << 40] as [Int?] {
            let planner = MemoryPlanner(config: try config(patch: [1024, 1024, 1024], batch: nil), data: try data(),
                                        physicalMemoryBytes: physical)
            let started = Date()
            XCTAssertThrowsError(try planner.plan(budget: budget)) { error in
                guard case MemoryBudgetError.planTooLarge(let needed, let exact, let limitBytes, let limit, let plan, _)? =
                        error as? MemoryBudgetError else { return XCTFail("\(error)") }
                XCTAssertFalse(exact)
                // Without a budget the first plan (batch 2) is refused, with one the smallest (batch 1):
                // batch x (4 channels + labels) x 2 batches + 3 output channels, 4 bytes each.
                let batch = budget == nil ? 2 : 1
                XCTAssertEqual(needed, 3 << 20 + (1 << 30) * 4 * batch * 13 + ResourceUsage.runtimeReserveBytes)
                XCTAssertEqual(plan, "patch [1024, 1024, 1024], batch \(batch)")
                // No budget can help past physical memory: the message says that limit.
                XCTAssertEqual(limitBytes, physical)
                XCTAssertEqual(limit, "physical memory")
                XCTAssertTrue("\(error)".contains("GiB"), "\(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(started), 1, "budget \(String(describing: budget))")
        }
    }

    func testPlanAbovePhysicalMemoryIsRefusedWithItsPrediction() throws {
        // 64^3 passes the bound but not the prediction on a machine of 300 MiB.
        let planner = MemoryPlanner(config: try config(patch: [64, 64, 64]), data: try data(), physicalMemoryBytes: 300 << 20)
        XCTAssertThrowsError(try planner.plan(budget: nil)) { error in
            guard case MemoryBudgetError.planTooLarge(let needed, true, 300 << 20, "physical memory", _, _)? =
                    error as? MemoryBudgetError else { return XCTFail("\(error)") }
            XCTAssertGreaterThan(needed, 300 << 20)
            XCTAssertTrue("\(error)".contains("is predicted to need"), "\(error)")
        }
    }

    func testByteCountPastSixtyFourBitsIsNamed() throws {
        let edge = 1 << 21
        let planner = MemoryPlanner(config: try config(patch: [edge, edge, edge]), data: try data())
        XCTAssertThrowsError(try planner.plan(budget: nil)) { error in
            XCTAssertEqual(error as? MemoryBudgetError, .sizeOverflow(patch: [edge, edge, edge], batch: 2, pipeline: planner.config.sourcePath))
        }
    }
}
