import Foundation
import VolSegCore
import VolSegModels

/// Patch size, batch size and recomputed stages of a run, with the memory they need.
public struct TrainingPlan: Sendable, Equatable {
    /// [D, H, W].
    public var patchSize: [Int]
    public var batchSize: Int
    public var recompute: [String]
    /// Planned ledger peak: the data cache plus the largest of one training step (model,
    /// gradients, optimizer state, activations, the batch in use and the one being prefetched),
    /// validation, and preprocessing.
    public var ledgerPeakBytes = 0
    /// Memory outside the ledger: runtime, libraries, thread stacks, allocator slack.
    public var reserveBytes = 0
    /// Of `ledgerPeakBytes`, the preprocessed cases held in memory.
    public var dataCacheBytes = 0
    public var budgetBytes: Int?

    public init(patchSize: [Int], batchSize: Int, recompute: [String]) {
        self.patchSize = patchSize
        self.batchSize = batchSize
        self.recompute = recompute
    }

    /// What the whole process (resident memory) is expected to reach.
    public var predictedPeakBytes: Int { ledgerPeakBytes + reserveBytes }
    /// (x, y, z), the order of the YAML and the JSON.
    public var patchSizeXYZ: [Int] { patchSize.reversed() }

    /// `volseg plan --json`: patch, batch, recompute, predicted_peak_bytes, budget_bytes (null
    /// without a budget), and the parts of the prediction.
    public var json: [String: Any] {
        ["patch": patchSizeXYZ, "batch": batchSize, "recompute": recompute,
         "predicted_peak_bytes": predictedPeakBytes, "budget_bytes": budgetBytes.map { $0 as Any } ?? NSNull(),
         "ledger_peak_bytes": ledgerPeakBytes, "reserve_bytes": reserveBytes, "data_cache_bytes": dataCacheBytes]
    }
}

/// A run that does not fit its memory budget: refused before it starts, or stopped when it
/// outgrew the budget. (One type: both are answers to --memory-budget.)
public enum MemoryBudgetError: Error, Equatable, CustomStringConvertible {
    /// A budget below the smallest plan that could run; names the minimum that would work.
    case budgetTooSmall(budgetBytes: Int, minimumBytes: Int, smallestPlan: String, pipeline: String)
    /// A resident-memory reading above the run's budget: the run stops with this error.
    case exceeded(residentBytes: Int, budgetBytes: Int)
    /// A plan above the budget or the machine's physical memory, refused before it is built (by
    /// its lower bound, `exact` false) or before it runs (its prediction, `exact` true).
    case planTooLarge(neededBytes: Int, exact: Bool, limitBytes: Int, limit: String, plan: String, pipeline: String)
    /// A patch (x y z) and batch whose byte count does not fit in 64 bits.
    case sizeOverflow(patch: [Int], batch: Int, pipeline: String)

    /// The budget the error answers; nil when the limit was not a budget.
    public var budgetBytes: Int? {
        switch self {
        case .budgetTooSmall(let budget, _, _, _), .exceeded(_, let budget): return budget
        case .planTooLarge(_, _, let limit, let name, _, _): return name == "the budget" ? limit : nil
        case .sizeOverflow: return nil
        }
    }

    public var description: String {
        switch self {
        case .budgetTooSmall(let budgetBytes, let minimumBytes, let smallestPlan, let pipeline):
            return "memory budget \(MemorySize.describe(budgetBytes)) is too small for \(pipeline): the smallest plan (\(smallestPlan)) "
                + "needs at least \(MemorySize.describe(minimumBytes)); use --memory-budget \(minimumBytes) or more"
        case .exceeded(let residentBytes, let budgetBytes):
            return "peak resident memory \(MemorySize.describe(residentBytes)) exceeded the budget \(MemorySize.describe(budgetBytes)); the last checkpoint is kept"
        case .planTooLarge(let needed, let exact, let limitBytes, let limit, let plan, let pipeline):
            let need = exact ? "is predicted to need \(MemorySize.describe(needed)) (ledger peak + reserve)"
                : "needs at least \(MemorySize.describe(needed)) before any activation (two batches, the network's output, the reserve)"
            let advice = limit == "the budget" ? "raise --memory-budget or choose a smaller patch or batch"
                : "choose a smaller patch or batch in the pipeline (or `auto` with --memory-budget to plan one that fits)"
            return "\(pipeline): the plan (\(plan)) \(need), more than \(limit) (\(MemorySize.describe(limitBytes))); \(advice)"
        case .sizeOverflow(let patch, let batch, let pipeline):
            return "\(pipeline): patch \(patch) with batch \(batch) has more bytes than a 64-bit count holds"
        }
    }
}

/// Chooses patch size, batch size and recomputed stages so a run fits a memory budget, by
/// running the real training step on shape-only tensors (the ledger's planning mode): the
/// planned peak is exactly what a real step allocates. The search follows nnU-Net: the largest
/// patch is the training cases' median shape (rounded up to what the network's strides need),
/// batch 2; when that does not fit, stages are recomputed in backward first (those that lower
/// the peak, largest saving first), then the patch shrinks along its longest axis, then the
/// batch drops to 1.
public struct MemoryPlanner {
    /// Resident memory outside the ledger: Swift runtime, Foundation, OpenBLAS, HDF5 and libnifti
    /// code and buffers, thread stacks, NIfTI decode buffers and allocator slack. Measured with
    /// `volseg train` on synthetic and real data (max RSS - ledger peak was below 120 MiB, see the
    /// test `testPeakRSSStaysWithinLedgerPeakPlusReserve`), then given headroom.
    public static let runtimeReserveBytes = ResourceUsage.runtimeReserveBytes
    /// Preprocessing one case holds at most this many copies of its raw image and labels (the
    /// channels read and stacked, canonical copy, cleaned, cropped, normalised, resampled):
    /// measured 4.4 on 128^3 BraTS phantoms, checked by
    /// `testPreprocessingPeakIsWithinThePlannersBound`.
    public static let preprocessingCopies = 6

    public let config: PipelineConfig
    public let data: PlanningData
    /// No plan above this runs, whatever the budget; the machine's by default (tests set it).
    public var physicalMemoryBytes: Int?

    public init(config: PipelineConfig, data: PlanningData,
                physicalMemoryBytes: Int? = ResourceUsage.physicalMemoryBytes) {
        self.config = config
        self.data = data
        self.physicalMemoryBytes = physicalMemoryBytes
    }

    public func plan(budget: Int?) throws -> TrainingPlan {
        let modelConfig = try config.resolvedModelConfig(channels: data.channels, labels: data.labels)
        let probe = try config.makeModel(config: modelConfig, seed: 0, planned: true)
        let divisor = probe.sizeDivisor
        let stages = (probe as? RecomputableStages)?.stageNames ?? []
        if let wanted = config.patch.recompute, let unknown = wanted.first(where: { !stages.contains($0) }) {
            throw PipelineConfigError.unknownRecomputeStage(file: config.sourcePath, stage: unknown, model: config.model.name, stages: stages)
        }
        let patches: [[Int]]
        if let fixed = config.patch.size {
            let dhw = Array(fixed.reversed())
            if let axis = (0..<3).first(where: { dhw[$0] % divisor[$0] != 0 }) {
                throw PipelineConfigError.patchNotDivisible(file: config.sourcePath, size: fixed, divisor: Array(divisor.reversed()),
                                                            axis: ["z", "y", "x"][axis])
            }
            patches = [dhw]
        } else {
            patches = Self.shrinkingPatches(median: data.medianShape, divisor: divisor)
        }
        let batches = config.patch.batch.map { [$0] } ?? [2, 1]
        let limit = PlanMemoryLimit(budget: budget, physical: physicalMemoryBytes)
        let physical = PlanMemoryLimit(budget: nil, physical: physicalMemoryBytes)
        func describe(_ patch: [Int], _ batch: Int, _ recompute: [String]) -> String {
            "patch \(Array(patch.reversed())), batch \(batch)"
                + (recompute.isEmpty ? "" : ", \(recompute.count == stages.count ? "every stage" : "\(recompute.count) stage(s)") recomputed")
        }
        // Checked before any planned tensor is built: a candidate whose lower bound is above the
        // limit cannot fit, and planning it would take minutes for a 1024^3 patch.
        func lowerBound(_ patch: [Int], _ batch: Int) throws -> Int {
            try PlanLowerBound(patch: patch, batch: batch, channels: data.channels, outputChannels: data.labels.outputChannels,
                               cacheBytes: data.cacheBytes, pipeline: config.sourcePath).bytes
        }
        func mightFit(_ patch: [Int], _ batch: Int) throws -> Bool { try lowerBound(patch, batch) <= limit.bytes }
        func refuse(_ patch: [Int], _ batch: Int, _ recompute: [String], needed: Int, exact: Bool) -> MemoryBudgetError {
            .planTooLarge(neededBytes: needed, exact: exact, limitBytes: limit.bytes, limit: limit.name,
                          plan: describe(patch, batch, recompute), pipeline: config.sourcePath)
        }

        func evaluate(_ patch: [Int], _ batch: Int, _ recompute: [String]) throws -> TrainingPlan {
            var plan = TrainingPlan(patchSize: patch, batchSize: batch, recompute: recompute)
            let step = try stepPeak(modelConfig: modelConfig, patch: patch, batch: batch, recompute: Set(recompute))
            plan.dataCacheBytes = data.cacheBytes
            plan.ledgerPeakBytes = data.cacheBytes + max(step, Self.preprocessingCopies * data.largestSourceBytes)
            plan.reserveBytes = Self.runtimeReserveBytes
            plan.budgetBytes = budget
            return plan
        }

        guard let budget else {
            let recompute = config.patch.recompute ?? []
            let bound = try lowerBound(patches[0], batches[0])
            if bound > limit.bytes { throw refuse(patches[0], batches[0], recompute, needed: bound, exact: false) }
            let plan = try evaluate(patches[0], batches[0], recompute)
            if plan.predictedPeakBytes > limit.bytes {
                throw refuse(patches[0], batches[0], recompute, needed: plan.predictedPeakBytes, exact: true)
            }
            return plan
        }
        let fitting = limit.bytes
        // Candidates run from the largest patch down, so "fits" turns from false to true once
        // along them: binary searches find the largest patch that fits without recomputation and
        // the largest that fits with every stage recomputed, in a few planned steps each.
        func firstFitting(_ fits: (Int) throws -> Bool) rethrows -> Int? {
            var low = 0, high = patches.count
            while low < high {
                let middle = (low + high) / 2
                if try fits(middle) { high = middle } else { low = middle + 1 }
            }
            return low < patches.count ? low : nil
        }
        // The stages whose recomputation lowers the peak, found greedily (each round adds the
        // stage that lowers it most). Recomputing a stage frees what it stores inside but builds
        // it again in backward next to everything still stored; for the full-resolution decoder
        // stage, the first one backward reaches, that costs more than it frees (tiny U-Net at
        // 2 x 48^3: 78.9 MB stored, 98.9 MB with that stage recomputed, 69.6 MB with the encoder's).
        func helpfulStages(_ patch: [Int], _ batch: Int) throws -> [String] {
            guard try lowerBound(patch, batch) <= physical.bytes else { return [] }
            var chosen: [String] = []
            var current = try evaluate(patch, batch, []).predictedPeakBytes
            while true {
                var best: (stage: String, peak: Int)?
                for stage in stages where !chosen.contains(stage) {
                    let peak = try evaluate(patch, batch, stages.filter { chosen.contains($0) || $0 == stage }).predictedPeakBytes
                    if peak < current && (best == nil || peak < best!.peak) { best = (stage, peak) }
                }
                guard let best else { return chosen }
                chosen = stages.filter { chosen.contains($0) || $0 == best.stage }
                current = best.peak
            }
        }
        for batch in batches {
            let fixed = config.patch.recompute ?? []
            let plain = try firstFitting { try mightFit(patches[$0], batch) && evaluate(patches[$0], batch, fixed).predictedPeakBytes <= fitting }
            var recomputing: Int?
            var helpful: [String] = []
            if config.patch.recompute == nil, !stages.isEmpty, (plain ?? patches.count) > 0 {
                helpful = try helpfulStages(patches[0], batch)
                if !helpful.isEmpty {
                    recomputing = try firstFitting { try mightFit(patches[$0], batch) && evaluate(patches[$0], batch, helpful).predictedPeakBytes <= fitting }
                }
            }
            // Recomputing stages keeps a larger patch: prefer it, with as few stages as fit.
            if let index = recomputing, index < (plain ?? patches.count) {
                var chosen: [String] = []
                var current = try evaluate(patches[index], batch, [])
                while current.predictedPeakBytes > fitting {
                    var best: TrainingPlan?
                    for stage in helpful where !chosen.contains(stage) {
                        let candidate = try evaluate(patches[index], batch, helpful.filter { chosen.contains($0) || $0 == stage })
                        if best == nil || candidate.predictedPeakBytes < best!.predictedPeakBytes { best = candidate }
                    }
                    guard let best else { break }
                    current = best
                    chosen = best.recompute
                }
                return current.predictedPeakBytes <= fitting ? current : try evaluate(patches[index], batch, helpful)
            }
            if let index = plain { return try evaluate(patches[index], batch, fixed) }
        }
        // The smallest plan: the smallest patch and batch, with the stages that help recomputed.
        let (smallestPatch, smallestBatch) = (patches.last!, batches.last!)
        // Past physical memory no budget helps: say so from the bound, without building the plan.
        // Below it, the exact minimum is worth computing, as the budget to ask for.
        let bound = try lowerBound(smallestPatch, smallestBatch)
        if bound > physical.bytes {
            throw MemoryBudgetError.planTooLarge(neededBytes: bound, exact: false, limitBytes: physical.bytes, limit: physical.name,
                                                 plan: describe(smallestPatch, smallestBatch, config.patch.recompute ?? []),
                                                 pipeline: config.sourcePath)
        }
        let smallest = try evaluate(smallestPatch, smallestBatch,
                                    config.patch.recompute ?? (stages.isEmpty ? [] : try helpfulStages(smallestPatch, smallestBatch)))
        if smallest.predictedPeakBytes > physical.bytes {
            throw MemoryBudgetError.planTooLarge(neededBytes: smallest.predictedPeakBytes, exact: true, limitBytes: physical.bytes,
                                                 limit: physical.name, plan: describe(smallestPatch, smallestBatch, smallest.recompute),
                                                 pipeline: config.sourcePath)
        }
        // The search above recomputes the stages that help the largest patch; the smallest patch
        // may be helped by others, and its plan is the minimum the refusal names, so where that
        // plan fits the budget it is the plan (the named minimum must work).
        if smallest.predictedPeakBytes <= fitting { return smallest }
        throw MemoryBudgetError.budgetTooSmall(budgetBytes: budget, minimumBytes: smallest.predictedPeakBytes,
                                               smallestPlan: describe(smallestPatch, smallestBatch, smallest.recompute),
                                               pipeline: config.sourcePath)
    }

    /// Ledger bytes that one training step adds (two steps, so the optimizer state of the first
    /// is live during the second), or validation after it, whichever is more. The model is built
    /// inside the measurement, so its parameters count.
    public func stepPeak(modelConfig: [String: Any], patch: [Int], batch: Int, recompute: Set<String>) throws -> Int {
        let loss = try config.makeLoss(labels: data.labels)
        let ledger = MemoryLedger.shared
        return try ledger.measurePeak { () throws -> Void in
            let model = try config.makeModel(config: modelConfig, seed: 0, planned: true)
            (model as? RecomputableStages)?.recomputedStages = recompute
            model.train()
            let parameters = model.trainableParameters
            let optimizer = config.makeOptimizer(parameters)
            let clip = config.optimizer.gradientClip.map(Float.init)
            do {
                let current = TrainingBatch.planned(batch: batch, channels: data.channels, patchSize: patch)
                let prefetched = TrainingBatch.planned(batch: batch, channels: data.channels, patchSize: patch)
                for _ in 0..<2 {
                    TrainerStep.run(model: model, batch: current, loss: loss, optimizer: optimizer,
                                    parameters: parameters, gradientClip: clip)
                }
                withExtendedLifetime(prefetched) {}
            }
            if let shape = data.largestValidationShape {
                ValidationRunner.plannedPrediction(model: model, labels: data.labels, patch: patch, step: config.validation.stepFraction,
                                                   channels: data.channels, networkShape: shape)
            }
        }.peakBytes
    }

    /// From the median shape rounded up to the divisor, shrinking the longest axis by one divisor
    /// step at a time down to 16 voxels (or one divisor step) per axis.
    static func shrinkingPatches(median: [Int], divisor: [Int]) -> [[Int]] {
        func roundUp(_ n: Int, _ d: Int) -> Int { max(d, (n + d - 1) / d * d) }
        var patch = (0..<3).map { roundUp(median[$0], divisor[$0]) }
        let minimum = (0..<3).map { min(patch[$0], roundUp(16, divisor[$0])) }
        var out = [patch]
        while let axis = (0..<3).filter({ patch[$0] - divisor[$0] >= minimum[$0] }).max(by: { patch[$0] < patch[$1] }) {
            patch[axis] -= divisor[axis]
            out.append(patch)
        }
        return out
    }
}

/// What the planner needs to know about the data of a run.
public struct PlanningData: Sendable, Equatable {
    public var channels: Int
    public var labels: TrainingLabels
    /// [D, H, W].
    public var medianShape: [Int]
    /// [D, H, W] of the largest validation case's network grid; nil without validation cases.
    public var largestValidationShape: [Int]?
    public var cacheBytes: Int
    /// Raw image + label bytes of the largest case before preprocessing.
    public var largestSourceBytes: Int

    public init(channels: Int, labels: TrainingLabels, medianShape: [Int], largestValidationShape: [Int]?,
                cacheBytes: Int, largestSourceBytes: Int) {
        self.channels = channels
        self.labels = labels
        self.medianShape = medianShape
        self.largestValidationShape = largestValidationShape
        self.cacheBytes = cacheBytes
        self.largestSourceBytes = largestSourceBytes
    }

    public init(_ data: TrainingData) {
        self.init(channels: data.modalities.count, labels: data.labels, medianShape: data.medianShape,
                  largestValidationShape: data.validation.map(\.networkShape).max { $0.reduce(1, *) < $1.reduce(1, *) },
                  cacheBytes: data.cacheBytes, largestSourceBytes: data.largestSourceBytes)
    }
}
