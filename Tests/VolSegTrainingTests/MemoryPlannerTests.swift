import Foundation
@testable import VolSegCore
@testable import VolSegModels
import VolSegTestSupport
@testable import VolSegTraining
import XCTest

/// The memory planner: a planned step allocates exactly what a real one does, recomputed stages
/// lower the peak, plans fit their budget, and a budget too small is refused with the minimum.
final class MemoryPlannerTests: XCTestCase {
    func tinyConfig(patch: [Int]? = nil, batch: Int? = nil) throws -> PipelineConfig {
        var config = try PipelineConfig.load(TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml"))
        config.patch = PatchSettings(size: patch, batch: batch, recompute: nil)
        // Two convolutions per stage: recomputing a stage then frees the activations inside it.
        config.model.config["convs_per_stage"] = 2
        return config
    }

    func planningData(median: [Int], validation: [Int]? = nil, cache: Int = 0) throws -> PlanningData {
        PlanningData(channels: 4, labels: try TrainingLabels(convention: .brats2021, target: .regions), medianShape: median,
                     largestValidationShape: validation, cacheBytes: cache, largestSourceBytes: 0)
    }

    /// Ledger bytes of building the model and two real SGD steps on random batches.
    func realStepPeak(_ config: PipelineConfig, patch: [Int], batch: Int, recompute: Set<String>) throws -> Int {
        let labels = try TrainingLabels(convention: .brats2021, target: .regions)
        let modelConfig = try config.resolvedModelConfig(channels: 4, labels: labels)
        let loss = try config.makeLoss(labels: labels)
        let image = seededTensor([batch, 4] + patch, seed: 3)
        let target = seededTensor([batch, 1] + patch, seed: 4, low: 0, high: 4).map { Float(Int($0)) }
        let spare = (seededTensor([batch, 4] + patch, seed: 5), Tensor.zeros([batch, 1] + patch))
        return try MemoryLedger.shared.measurePeak { () throws -> Void in
            let model = try config.makeModel(config: modelConfig, seed: 1, planned: false)
            (model as? RecomputableStages)?.recomputedStages = recompute
            let parameters = model.trainableParameters
            let optimizer = config.makeOptimizer(parameters)
            // The planner counts the batch in use and the prefetched one: allocate both here too.
            let current = TrainingBatch(image: image.copy(), labels: target.copy())
            let next = TrainingBatch(image: spare.0.copy(), labels: spare.1.copy())
            for _ in 0..<2 {
                TrainerStep.run(model: model, batch: current, loss: loss, optimizer: optimizer, parameters: parameters, gradientClip: 12)
            }
            withExtendedLifetime(next) {}
        }.peakBytes
    }

    func testPlannedStepPeakEqualsTheRealStep() throws {
        let config = try tinyConfig()
        let planner = MemoryPlanner(config: config, data: try planningData(median: [32, 32, 32]))
        let labels = try TrainingLabels(convention: .brats2021, target: .regions)
        let modelConfig = try config.resolvedModelConfig(channels: 4, labels: labels)
        for recompute: Set<String> in [[], ["encoder.0", "decoder.1"]] {
            let planned = try planner.stepPeak(modelConfig: modelConfig, patch: [16, 24, 32], batch: 2, recompute: recompute)
            let real = try realStepPeak(config, patch: [16, 24, 32], batch: 2, recompute: recompute)
            XCTAssertEqual(planned, real, "recompute \(recompute.sorted())")
        }
    }

    func testRecomputedStagesLowerThePeak() throws {
        let config = try tinyConfig()
        let planner = MemoryPlanner(config: config, data: try planningData(median: [48, 48, 48]))
        let labels = try TrainingLabels(convention: .brats2021, target: .regions)
        let modelConfig = try config.resolvedModelConfig(channels: 4, labels: labels)
        let stored = try planner.stepPeak(modelConfig: modelConfig, patch: [48, 48, 48], batch: 2, recompute: [])
        let encoder = try planner.stepPeak(modelConfig: modelConfig, patch: [48, 48, 48], batch: 2,
                                           recompute: ["encoder.0", "encoder.1", "encoder.2"])
        // The full-resolution decoder stage, first in backward, is rebuilt next to everything
        // still stored: recomputing it costs more than it frees (the planner leaves it out).
        let lastDecoder = try planner.stepPeak(modelConfig: modelConfig, patch: [48, 48, 48], batch: 2, recompute: ["decoder.1"])
        print("tiny U-Net at 2 x 48^3: \(stored) bytes stored, \(encoder) with the encoder recomputed, \(lastDecoder) with decoder.1")
        XCTAssertLessThan(Double(encoder), 0.9 * Double(stored))
        XCTAssertGreaterThan(lastDecoder, stored)
    }

    func testPlanFitsTheBudgetByRecomputingThenShrinking() throws {
        let planner = MemoryPlanner(config: try tinyConfig(), data: try planningData(median: [64, 64, 64], validation: [64, 64, 64]))
        let free = try planner.plan(budget: nil)
        XCTAssertEqual(free.patchSize, [64, 64, 64])
        XCTAssertEqual(free.batchSize, 2)
        XCTAssertEqual(free.recompute, [])
        // A budget 8% below the full plan: recomputed stages keep the full patch.
        let tighter = free.reserveBytes + free.ledgerPeakBytes * 92 / 100
        let recomputing = try planner.plan(budget: tighter)
        XCTAssertLessThanOrEqual(recomputing.predictedPeakBytes, tighter)
        XCTAssertEqual(recomputing.patchSize, [64, 64, 64])
        XCTAssertFalse(recomputing.recompute.isEmpty)
        // Far tighter: the patch shrinks (divisible by the network's 4).
        let tight = free.reserveBytes + free.ledgerPeakBytes / 4
        let shrunk = try planner.plan(budget: tight)
        XCTAssertLessThanOrEqual(shrunk.predictedPeakBytes, tight)
        XCTAssertLessThan(shrunk.patchSize.reduce(1, *), 64 * 64 * 64)
        XCTAssertTrue(shrunk.patchSize.allSatisfy { $0 % 4 == 0 })
        let json = shrunk.json
        XCTAssertEqual(json["patch"] as? [Int], shrunk.patchSize.reversed())
        XCTAssertEqual(json["budget_bytes"] as? Int, tight)
        XCTAssertEqual(json["predicted_peak_bytes"] as? Int, shrunk.ledgerPeakBytes + shrunk.reserveBytes)
        XCTAssertNotNil(json["recompute"] as? [String])
    }

    func testTooSmallBudgetIsRefusedWithTheMinimumInBytesAndGiB() throws {
        let planner = MemoryPlanner(config: try tinyConfig(), data: try planningData(median: [64, 64, 64]))
        var minimum = 0
        XCTAssertThrowsError(try planner.plan(budget: 100 << 20)) { error in
            guard let refused = error as? MemoryBudgetError,
                  case .budgetTooSmall(100 << 20, let minimumBytes, _, _) = refused else { return XCTFail("\(error)") }
            XCTAssertGreaterThan(minimumBytes, 100 << 20)
            XCTAssertTrue(refused.description.contains("\(minimumBytes) bytes"), refused.description)
            XCTAssertTrue(refused.description.contains("GiB"), refused.description)
            // The minimum it names works.
            minimum = minimumBytes
        }
        XCTAssertNoThrow(try planner.plan(budget: minimum))
    }

    func testPatchCandidatesShrinkTheLongestAxisInDivisorSteps() {
        let patches = MemoryPlanner.shrinkingPatches(median: [37, 30, 21], divisor: [4, 4, 4])
        XCTAssertEqual(patches.first, [40, 32, 24])
        XCTAssertEqual(patches.last, [16, 16, 16])
        for (a, b) in zip(patches, patches.dropFirst()) {
            XCTAssertEqual(zip(a, b).filter { $0 != $1 }.count, 1)
            XCTAssertEqual(a.reduce(0, +) - b.reduce(0, +), 4)
        }
        XCTAssertEqual(MemoryPlanner.shrinkingPatches(median: [10, 10, 10], divisor: [8, 8, 8]), [[16, 16, 16]])
    }
}
