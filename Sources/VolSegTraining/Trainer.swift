import Foundation
import VolSegCore
import VolSegModels

/// Settings of `volseg train` that are not in the pipeline file.
public struct TrainingOptions: Sendable {
    public var dataFolder: URL
    public var runFolder: URL
    /// Whole-process budget in bytes; the plan must fit it and the run stops if resident memory
    /// ever exceeds it.
    public var memoryBudget: Int?
    /// Total epochs (also when resuming); nil = the pipeline's.
    public var epochs: Int?
    public var iterationsPerEpoch: Int?
    public var seed: UInt64 = 0
    public var resume = false
    /// Stop (as if killed) once this many epochs are done in total (tests of --resume).
    public var stopAfterEpochs: Int?

    public init(dataFolder: URL, runFolder: URL) {
        self.dataFolder = dataFolder
        self.runFolder = runFolder
    }
}

/// What a finished (or stopped) run reports.
public struct TrainingSummary: Sendable {
    public var plan: TrainingPlan
    public var epochsDone: Int
    public var structureNames: [String]
    /// Dice of the last validation (NaN per structure without one).
    public var lastDice: [Double]
    public var bestDice: Double
    public var secondsPerEpoch: Double
    public var ledgerPeakBytes: Int
    public var rssPeakBytes: Int
}

/// A resident-memory reading above the run's budget: the run stops with this error.
public struct MemoryBudgetExceeded: Error, CustomStringConvertible {
    public let residentBytes: Int
    public let budgetBytes: Int
    public var description: String {
        "peak resident memory \(MemorySize.describe(residentBytes)) exceeded the budget \(MemorySize.describe(budgetBytes)); the last checkpoint is kept"
    }
}

/// Trains a model as a pipeline file describes, in RUNDIR: checkpoint_last.h5 after every epoch,
/// checkpoint_best.h5 at the best mean validation Dice, log.csv, curves.png. Runs are exactly
/// reproducible from the seed, and a stopped run continued with `resume` computes the same
/// steps as one that never stopped: every batch is built from a seed drawn at the start of its
/// epoch from the run's generator, whose state the checkpoint keeps.
public final class Trainer {
    public let config: PipelineConfig
    public let options: TrainingOptions
    public let progress: any TrainingProgressReporter

    public init(config: PipelineConfig, options: TrainingOptions, progress: any TrainingProgressReporter = SilentTrainingProgress()) {
        self.config = config
        self.options = options
        self.progress = progress
    }

    public func run() throws -> TrainingSummary {
        let started = Date()
        ResourceUsage.returnFreedMemoryToSystem()
        let ledger = MemoryLedger.shared
        ledger.resetPeak()
        ResourceUsage.resetPeakResident()
        try FileManager.default.createDirectory(at: options.runFolder, withIntermediateDirectories: true)

        // Dropped once its tensors are copied into the model and optimizer (it holds a copy of both).
        var resumed = options.resume ? try readResumeCheckpoint() : nil
        let data = try TrainingData.load(config: config, folder: options.dataFolder,
                                         normalization: resumed?.1.preprocessor.normalization, log: progress.message)
        let preprocessingPeak = ledger.peakBytes
        progress.message("data: \(data.training.count) training and \(data.validation.count) validation case(s), "
            + "\(MemorySize.short(data.cacheBytes)) in memory; preprocessing peak \(MemorySize.short(preprocessingPeak)) (ledger)")
        let planner = MemoryPlanner(config: config, data: PlanningData(data))
        var plan: TrainingPlan
        if let (_, run, _) = resumed {
            // The resumed run keeps its plan (a different patch would change every later step).
            var fixed = config
            fixed.patch = PatchSettings(size: run.plan.patchSizeXYZ, batch: run.plan.batchSize, recompute: run.plan.recompute)
            plan = try MemoryPlanner(config: fixed, data: PlanningData(data)).plan(budget: options.memoryBudget)
        } else {
            plan = try planner.plan(budget: options.memoryBudget)
        }
        // Planning runs on shape-only tensors, which the ledger counts like real ones: forget
        // that peak, keeping the preprocessing one, so the log shows what the run itself reached.
        ledger.resetPeak()
        func ledgerPeak() -> Int { max(preprocessingPeak, ledger.peakBytes) }
        progress.message("plan: patch \(plan.patchSizeXYZ) (x y z), batch \(plan.batchSize)"
            + (plan.recompute.isEmpty ? "" : ", recompute \(plan.recompute.joined(separator: " "))")
            + ", predicted peak \(MemorySize.short(plan.predictedPeakBytes))"
            + (options.memoryBudget.map { " of \(MemorySize.short($0))" } ?? ""))

        let epochs = options.epochs ?? config.training.epochs
        let steps = options.iterationsPerEpoch ?? config.training.iterationsPerEpoch
        let modelConfig = try config.resolvedModelConfig(channels: data.modalities.count, labels: data.labels)
        let model = try config.makeModel(config: modelConfig, seed: options.seed, planned: false)
        (model as? RecomputableStages)?.recomputedStages = Set(plan.recompute)
        if !options.resume { try config.initializeWeights(model) }
        model.train()
        let parameters = model.trainableParameters
        let optimizer = config.makeOptimizer(parameters)
        let loss = try config.makeLoss(labels: data.labels)
        let run = TrainingRunConfiguration(
            modelName: config.model.name, modelConfig: modelConfig, modalities: data.modalities, labels: data.labels,
            preprocessor: data.preprocessor, plan: plan, seed: options.seed, epochs: epochs, iterationsPerEpoch: steps,
            pipelineText: config.sourceText, pipelineName: config.name)

        var state = TrainingState()
        var rng = RandomGenerator(seed: options.seed &+ 0x7261_6E64_6F6D)
        if let (checkpoint, _, saved) = resumed {
            try model.load(state: checkpoint.modelState)
            try optimizer.loadState(checkpoint.optimizer, stepCount: saved.optimizerSteps)
            state = saved
            rng = RandomGenerator(state: saved.rngState)
            progress.message("resuming after epoch \(saved.epochsDone) (step \(saved.iterationsDone))")
        }
        resumed = nil

        let structures = data.labels.reportedStructures.map(\.name)
        let log = try TrainingLog(url: options.runFolder.appendingPathComponent("log.csv"), structureNames: structures,
                                  keepIterations: options.resume ? state.iterationsDone : nil)
        let sampler = PatchSampler(patchSize: plan.patchSize, batchSize: plan.batchSize, foregroundShare: config.sampling.foregroundShare)
        let loader = BatchLoader(cases: data.training, sampler: sampler,
                                 augmenter: PatchAugmenter(settings: config.augmentation, patchSize: plan.patchSize))
        let validation = ValidationRunner(patchSize: plan.patchSize, stepFraction: config.validation.stepFraction, labels: data.labels)
        let clip = config.optimizer.gradientClip.map(Float.init)
        let initialRate = Float(config.optimizer.learningRate)
        let secondsBefore = state.seconds
        var lastDice = [Double](repeating: .nan, count: structures.count)
        var epochSeconds: [Double] = []

        while state.epochsDone < epochs {
            if let stop = options.stopAfterEpochs, state.epochsDone >= stop { break }
            let epoch = state.epochsDone
            let epochStart = Date()
            optimizer.learningRate = config.learningRateSchedule.learningRate(initial: initialRate, epoch: epoch, totalEpochs: epochs)
            let seeds = (0..<steps).map { _ in rng.next() }
            loader.prefetch(seed: seeds[0])
            var lossSum = 0.0
            var epochDice: [Double]?
            for step in 0..<steps {
                let batch = loader.take()
                if step + 1 < steps { loader.prefetch(seed: seeds[step + 1]) }
                let value = TrainerStep.run(model: model, batch: batch, loss: loss, optimizer: optimizer,
                                            parameters: parameters, gradientClip: clip)
                guard value.isFinite else {
                    throw TrainingSetupError("training diverged at epoch \(epoch), step \(state.iterationsDone): loss \(value); lower optimizer.learning_rate in \(config.sourcePath)")
                }
                lossSum += Double(value)
                var dice: [Double] = []
                let last = step == steps - 1
                if last && !data.validation.isEmpty && ((epoch + 1) % config.validation.every == 0 || epoch == epochs - 1) {
                    dice = validation.dice(model: model, cases: data.validation)
                    lastDice = dice
                    epochDice = dice
                }
                let rss = ResourceUsage.peakResidentBytes
                try log.append(TrainingLog.Row(epoch: epoch, iteration: state.iterationsDone, loss: value,
                                               learningRate: optimizer.learningRate, validationDice: dice,
                                               seconds: secondsBefore + Date().timeIntervalSince(started),
                                               ledgerPeakBytes: ledgerPeak(), rssPeakBytes: rss))
                state.iterationsDone += 1
                if let budget = options.memoryBudget, rss > budget {
                    throw MemoryBudgetExceeded(residentBytes: rss, budgetBytes: budget)
                }
                let elapsed = Date().timeIntervalSince(epochStart), rate = Double(step + 1) / max(elapsed, 1e-9)
                let remaining = Double((epochs - epoch - 1) * steps + steps - step - 1) / rate
                progress.step(epoch: epoch, epochs: epochs, step: step + 1, steps: steps, loss: value,
                              stepsPerSecond: rate, secondsLeft: remaining, residentBytes: ResourceUsage.residentBytes)
            }
            state.epochsDone += 1
            state.optimizerSteps = optimizer.stepCount
            state.rngState = rng.stateWords
            state.epochLoss.append(lossSum / Double(steps))
            let thisDice = epochDice ?? [Double](repeating: .nan, count: structures.count)
            state.epochDice.append(thisDice)
            let mean = Self.meanIgnoringNaN(thisDice)
            let isBest = data.validation.isEmpty || (mean.isFinite && mean > state.bestDice)
            if isBest && mean.isFinite { state.bestDice = mean }
            let seconds = Date().timeIntervalSince(epochStart)
            epochSeconds.append(seconds)
            state.seconds = secondsBefore + Date().timeIntervalSince(started)
            try saveCheckpoints(model: model, optimizer: optimizer, run: run, state: state, best: isBest)
            try CurvePlot(epochLoss: state.epochLoss,
                          dice: structures.indices.map { i in (structures[i], state.epochDice.map { $0.count > i ? $0[i] : .nan }) })
                .write(to: options.runFolder.appendingPathComponent("curves.png"))
            let diceText = zip(structures, thisDice).map { "\($0) \($1.isNaN ? "-" : String(format: "%.4f", $1))" }.joined(separator: ", ")
            progress.message(String(format: "epoch %d/%d: loss %.4f", epoch + 1, epochs, state.epochLoss.last!)
                + (thisDice.allSatisfy(\.isNaN) ? "" : ", val Dice \(diceText)")
                + String(format: ", %.1f s", seconds) + ", peak RSS \(MemorySize.short(ResourceUsage.peakResidentBytes))")
        }
        return TrainingSummary(plan: plan, epochsDone: state.epochsDone, structureNames: structures, lastDice: lastDice,
                               bestDice: state.bestDice, secondsPerEpoch: epochSeconds.isEmpty ? 0 : epochSeconds.reduce(0, +) / Double(epochSeconds.count),
                               ledgerPeakBytes: ledgerPeak(), rssPeakBytes: ResourceUsage.peakResidentBytes)
    }

    static func meanIgnoringNaN(_ values: [Double]) -> Double {
        let finite = values.filter { !$0.isNaN }
        return finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
    }
}
