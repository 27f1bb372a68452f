import Foundation
import VolSegCore
import VolSegInference
import VolSegModels

/// Settings of `volseg train` that are not in the pipeline file.
public struct TrainingOptions: Sendable {
    public var dataFolder: URL
    public var runFolder: URL
    /// Validation cases segmented once more at the end for the run's report (0: none).
    public var reportCases = 0
    /// Whole-process budget in bytes; the plan must fit it and the run stops if resident memory
    /// ever exceeds it.
    public var memoryBudget: Int?
    /// Total epochs (also when resuming); nil = the pipeline's.
    public var epochs: Int?
    public var iterationsPerEpoch: Int?
    public var seed: UInt64 = 0
    public var resume = false
    /// Replace a previous run in the run folder (without it, a folder holding checkpoint_last.h5 needs `resume`).
    public var overwrite = false
    /// Stop (as if killed) once this many epochs are done in total (tests of --resume).
    public var stopAfterEpochs: Int?
    /// The ranks of a data-parallel run (mpirun/srun); alone, one process.
    public var ranks: any ProcessGroup = SingleProcessGroup.shared
    /// Gradient bytes summed per MPI_Allreduce (PyTorch DDP's default bucket, 25 MiB).
    public var bucketBytes = 25 << 20
    public var patchAssignment = PatchAssignment.rankStreams
    /// BatchNorm statistics over all ranks' batches (`BatchStatisticsSync`); else each rank's own.
    public var syncBatchNorm = false

    /// Which patches each rank of a data-parallel run trains on.
    public enum PatchAssignment: Sendable {
        /// Each rank draws its own from its own generator (seeded from the run seed and the rank),
        /// sample i of rank r drawn as sample r * batch + i of one process with the whole batch
        /// (the foreground share is kept over the whole batch).
        case rankStreams
        /// Every rank builds the batch one process with the whole batch (ranks x batch) would draw
        /// from the run seed and trains on its slice (tests: the same patches as one process).
        case slicesOfOneBatch
    }

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
    /// The first `TrainingOptions.reportCases` validation cases segmented by the final model (rank
    /// 0 only), for RUN/report.html's viewer.
    public var validationPreviews: [ValidationPreview] = []
    /// The channels' modality names, in the model's order.
    public var modalities: [String] = []
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
        let session = try startSession()
        try BatchStatisticsSync.run(over: options.syncBatchNorm ? options.ranks : nil) {
            while session.state.epochsDone < session.epochs {
                if let stop = options.stopAfterEpochs, session.state.epochsDone >= stop { break }
                try runEpoch(session)
            }
        }
        var summary = session.summary
        summary.modalities = session.data.modalities
        if options.ranks.isRoot && options.reportCases > 0 {
            summary.validationPreviews = try session.data.validation.prefix(options.reportCases).map {
                try session.validation.preview(model: session.model, item: $0)
            }
        }
        return summary
    }

    /// Checks, creates and locks the run folder (`RunFolder`), then sets the run up; a run that
    /// fails to start leaves no folder it created behind.
    ///
    /// Over several ranks, rank 0 alone owns the run folder (lock, log.csv, curves.png,
    /// checkpoints); every rank reads the data and, on --resume, checkpoint_last.h5 (the run folder
    /// and the data must be on a file system all ranks see). Each rank sets up on its own, then all
    /// agree that every rank did before the first collective of the run, so that a rank that failed
    /// to start stops the others at once instead of leaving them waiting.
    func startSession() throws -> TrainingSession {
        let ranks = options.ranks
        var runFolder: RunFolder?
        var session: TrainingSession?
        var setupError: (any Error)?
        do {
            if ranks.isRoot {
                runFolder = try RunFolder(options.runFolder, dataFolder: options.dataFolder,
                                          resume: options.resume, overwrite: options.overwrite)
            }
            session = try startSession(in: runFolder)
        } catch {
            setupError = error
        }
        let failed = ranks.size > 1 ? ranks.failedRanks(ok: setupError == nil, operation: "the start of the run") : []
        if setupError != nil || !failed.isEmpty {
            runFolder?.abandon()
            // A rank that exits non-zero makes mpirun kill the others: they wait until rank 0 has
            // removed what it created.
            if ranks.size > 1 { _ = ranks.failedRanks(ok: true, operation: "the end of a failed start") }
            throw setupError ?? TrainingSetupError.ranksFailedToStart(ranks: failed)
        }
        do {
            try ranks.check()
            try synchronizeStart(session!)
            if let runFolder { try openRunFiles(session!, in: runFolder) }
            return session!
        } catch {
            runFolder?.abandon()
            throw error
        }
    }

    /// Rank 0, once every rank has started: the first change to the run folder's files (an
    /// overwritten run cleared, log.csv started or cut back to the resumed step).
    private func openRunFiles(_ session: TrainingSession, in runFolder: RunFolder) throws {
        if options.overwrite && !options.resume { runFolder.clearPreviousRun() }
        session.log = try TrainingLog(url: options.runFolder.appendingPathComponent("log.csv"), structureNames: session.structures,
                                      keepIterations: options.resume ? session.state.iterationsDone : nil)
        session.runFolder = runFolder
    }

    /// The first collectives of a data-parallel run: every rank planned the same patch and batch,
    /// and takes rank 0's weights and buffers (initialised or resumed there; the optimizer state is
    /// the same on every rank already: empty, or read from the same checkpoint).
    private func synchronizeStart(_ session: TrainingSession) throws {
        let ranks = options.ranks
        guard ranks.size > 1 else { return }
        let plan = session.plan
        let mine = (plan.patchSizeXYZ + [plan.batchSize]).map { UInt64($0) }
            + [UInt64(plan.recompute.joined(separator: ",").utf8.reduce(UInt64(5381)) { $0 &* 33 &+ UInt64($1) })]
        let all = ranks.allGather(mine, operation: "plan check")
        try ranks.check()
        for rank in 1..<ranks.size where Array(all[(rank * mine.count)..<((rank + 1) * mine.count)]) != Array(all[0..<mine.count]) {
            throw TrainingSetupError.ranksPlannedDifferently(rank: rank)
        }
        for (_, tensor) in session.model.namedParameters() { ranks.broadcast(tensor, operation: "weights from rank 0") }
        for (_, tensor) in session.model.namedBuffers() { ranks.broadcast(tensor, operation: "buffers from rank 0") }
        try ranks.check()
    }

    /// Reads and preprocesses the data, plans within the budget, builds the model and optimizer,
    /// and loads the checkpoint being resumed.
    private func startSession(in runFolder: RunFolder?) throws -> TrainingSession {
        let started = Date()
        ResourceUsage.returnFreedMemoryToSystem()
        let ledger = MemoryLedger.shared
        ledger.resetPeak()
        ResourceUsage.resetPeakResident()

        // Dropped once its tensors are copied into the model and optimizer (it holds a copy of both).
        var resumed = options.resume ? try readResumeCheckpoint() : nil
        let data = try TrainingData.load(config: config, folder: options.dataFolder,
                                         normalization: resumed?.config.preprocessor.normalization, log: progress.message)
        let preprocessingPeak = ledger.peakBytes
        progress.message("data: \(data.training.count) training and \(data.validation.count) validation case(s), "
            + "\(MemorySize.format(data.cacheBytes)) in memory; preprocessing peak \(MemorySize.format(preprocessingPeak)) (ledger)")
        let plan = try makePlan(data: data, resumedPlan: resumed?.plan)
        // Planning runs on shape-only tensors, which the ledger counts like real ones: forget
        // that peak, keeping the preprocessing one, so the log shows what the run itself reached.
        ledger.resetPeak()
        progress.message("plan: patch \(plan.patchSizeXYZ) (x y z), batch \(plan.batchSize)"
            + (plan.recompute.isEmpty ? "" : ", recompute \(plan.recompute.joined(separator: " "))")
            + ", predicted peak \(MemorySize.format(plan.predictedPeakBytes))"
            + (options.memoryBudget.map { " of \(MemorySize.format($0))" } ?? ""))

        let epochs = options.epochs ?? config.training.epochs
        let steps = options.iterationsPerEpoch ?? config.training.iterationsPerEpoch
        let modelConfig = try config.resolvedModelConfig(channels: data.modalities.count, labels: data.labels)
        let model = try config.makeModel(config: modelConfig, seed: options.seed, planned: false)
        (model as? RecomputableStages)?.recomputedStages = Set(plan.recompute)
        if !options.resume { try config.initializeWeights(model) }
        model.train()
        let parameters = model.trainableParameters
        let optimizer = config.makeOptimizer(parameters)
        let runConfig = ModelBundleConfig(
            trainingModel: config.model.name, modelConfig: modelConfig, modalities: data.modalities, labels: data.labels,
            preprocessor: data.preprocessor, plan: plan, seed: options.seed, epochs: epochs, iterationsPerEpoch: steps,
            pipelineText: config.sourceText, pipelineName: config.name)

        let ranks = options.ranks
        var state = TrainingState()
        var rng = RandomGenerator(seed: Self.generatorSeed(runSeed: options.seed, rank: streamRank))
        if let saved = resumed {
            try model.load(state: saved.checkpoint.modelState)
            try optimizer.loadState(saved.checkpoint.optimizer, stepCount: saved.state.optimizerSteps)
            state = saved.state
            guard state.worldSize == ranks.size else {
                throw TrainingSetupError.resumeWithDifferentWorldSize(checkpoint: options.runFolder.appendingPathComponent("checkpoint_last.h5").path,
                                                                      saved: state.worldSize, requested: ranks.size)
            }
            rng = RandomGenerator(state: state.rankRNGState(streamRank))
            progress.message("resuming after epoch \(saved.state.epochsDone) (step \(saved.state.iterationsDone))")
        }
        resumed = nil

        let structures = data.labels.reportedStructures.map(\.name)
        // The sampler sees the whole batch of all ranks, this rank's samples at its offset in it.
        let sampler = PatchSampler(patchSize: plan.patchSize, batchSize: plan.batchSize * ranks.size,
                                   foregroundShare: config.sampling.foregroundShare)
        let loader = BatchLoader(cases: data.training, sampler: sampler,
                                 augmenter: PatchAugmenter(settings: config.augmentation, patchSize: plan.patchSize),
                                 samples: (ranks.rank * plan.batchSize)..<((ranks.rank + 1) * plan.batchSize))
        var loss = try config.makeLoss(labels: data.labels)
        if ranks.size > 1 { loss.ranks = ranks }
        return TrainingSession(
            data: data, plan: plan, model: model, parameters: parameters, optimizer: optimizer,
            loss: loss, runConfig: runConfig,
            validation: ValidationRunner(config: runConfig, labels: data.labels, step: config.validation.stepFraction),
            gradientAverager: GradientAverager(ranks: ranks, parameters: parameters, bucketBytes: options.bucketBytes),
            loader: loader, log: nil, structures: structures, epochs: epochs, steps: steps, state: state, rng: rng,
            started: started, preprocessingPeak: preprocessingPeak)
    }

    /// The rank whose generator this rank's batches come from: its own, or rank 0's when every
    /// rank cuts its slice of one batch.
    var streamRank: Int { options.patchAssignment == .slicesOfOneBatch ? 0 : options.ranks.rank }

    /// The run's generator on `rank`: rank 0's is the one a single process uses, so a run on one
    /// rank computes what it always did; the others mix the rank in (the generator's seeding
    /// spreads neighbouring seeds apart).
    static func generatorSeed(runSeed: UInt64, rank: Int) -> UInt64 {
        (runSeed &+ 0x7261_6E64_6F6D) ^ (UInt64(rank) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// The plan for the budget; a resumed run keeps its plan (a different patch would change
    /// every later step).
    func makePlan(data: TrainingData, resumedPlan: TrainingPlan?) throws -> TrainingPlan {
        guard let resumedPlan else {
            return try MemoryPlanner(config: config, data: PlanningData(data)).plan(budget: options.memoryBudget)
        }
        var fixed = config
        fixed.patch = PatchSettings(size: resumedPlan.patchSizeXYZ, batch: resumedPlan.batchSize, recompute: resumedPlan.recompute)
        return try MemoryPlanner(config: fixed, data: PlanningData(data)).plan(budget: options.memoryBudget)
    }

    /// One epoch's steps, validation on its last step when due, then the epoch's bookkeeping.
    func runEpoch(_ session: TrainingSession) throws {
        let epoch = session.state.epochsDone, epochs = session.epochs, steps = session.steps
        let epochStart = Date()
        let optimizer = session.optimizer
        optimizer.learningRate = config.learningRateSchedule.learningRate(initial: Float(config.optimizer.learningRate),
                                                                          epoch: epoch, totalEpochs: epochs)
        let seeds = (0..<steps).map { _ in session.rng.next() }
        session.loader.prefetch(seed: seeds[0])
        let clip = config.optimizer.gradientClip.map(Float.init)
        let ranks = options.ranks
        let averager = session.gradientAverager
        var rankPeaks = [Double](repeating: 0, count: ranks.size)
        var lossSum = 0.0
        var epochDice: [Double]?
        for step in 0..<steps {
            let batch = session.loader.take()
            if step + 1 < steps { session.loader.prefetch(seed: seeds[step + 1]) }
            let value = try TrainerStep.run(model: session.model, batch: batch, loss: session.loss, optimizer: optimizer,
                                            parameters: session.parameters, gradientClip: clip) { local in
                // Data-parallel: the mean gradient, the mean loss, every rank's memory peak, and
                // rank 0's running statistics (as PyTorch's DDP broadcasts buffers), before the
                // clipping and the update see the gradients.
                guard ranks.size > 1 else { return local }
                averager.average()
                var figures = [Double](repeating: 0, count: 1 + ranks.size)
                figures[0] = Double(local)
                figures[1 + ranks.rank] = Double(ResourceUsage.peakResidentBytes)
                ranks.sum(&figures, operation: "step loss and memory")
                for (_, tensor) in session.model.namedBuffers() { ranks.broadcast(tensor, operation: "buffers from rank 0") }
                try ranks.check()
                rankPeaks = Array(figures[1...])
                return Float(figures[0] / Double(ranks.size))
            }
            guard value.isFinite else {
                throw TrainingSetupError.diverged(epoch: epoch, step: session.state.iterationsDone, loss: value, pipeline: config.sourcePath)
            }
            lossSum += Double(value)
            FaultPoint.reached("train.step")
            var dice: [Double] = []
            if step == steps - 1 && !session.data.validation.isEmpty
                && ((epoch + 1) % config.validation.every == 0 || epoch == epochs - 1) {
                dice = try session.validation.dice(model: session.model, cases: session.data.validation, ranks: ranks)
                session.lastDice = dice
                epochDice = dice
            }
            let rss = ResourceUsage.peakResidentBytes
            try session.log?.append(TrainingLog.Row(epoch: epoch, iteration: session.state.iterationsDone, loss: value,
                                                   learningRate: optimizer.learningRate, validationDice: dice,
                                                   seconds: session.elapsedSeconds, ledgerPeakBytes: session.ledgerPeak,
                                                   rssPeakBytes: rss))
            session.state.iterationsDone += 1
            if let budget = options.memoryBudget {
                // Every rank stops when any rank is over its budget (each knows all peaks).
                let peak = ranks.size > 1 ? Int(rankPeaks.max() ?? 0) : rss
                if max(rss, peak) > budget { throw MemoryBudgetError.exceeded(residentBytes: max(rss, peak), budgetBytes: budget) }
            }
            let elapsed = Date().timeIntervalSince(epochStart), rate = Double(step + 1) / max(elapsed, 1e-9)
            let remaining = Double((epochs - epoch - 1) * steps + steps - step - 1) / rate
            progress.step(epoch: epoch, epochs: epochs, step: step + 1, steps: steps, loss: value,
                          stepsPerSecond: rate, secondsLeft: remaining, residentBytes: ResourceUsage.residentBytes)
        }
        FaultPoint.reached("train.epoch")
        try finishEpoch(session, meanLoss: lossSum / Double(steps), dice: epochDice, seconds: Date().timeIntervalSince(epochStart))
    }

    /// Records the epoch, writes curves.png and the checkpoints, and reports the epoch.
    ///
    /// checkpoint_last.h5 is the epoch's commit: it is written last, so that a run killed anywhere
    /// before it resumes this epoch again, and rewrites curves.png and checkpoint_best.h5 (killed
    /// between checkpoint_last and checkpoint_best, a resumed run would have skipped the best
    /// epoch's checkpoint for good, and a finished one kept a curves.png one epoch short).
    func finishEpoch(_ session: TrainingSession, meanLoss: Double, dice epochDice: [Double]?, seconds: Double) throws {
        let structures = session.structures
        session.state.epochsDone += 1
        session.state.optimizerSteps = session.optimizer.stepCount
        session.state.rngState = session.rng.stateWords
        session.state.worldSize = options.ranks.size
        session.state.rankRNGStates = options.patchAssignment == .slicesOfOneBatch
            ? (0..<options.ranks.size).flatMap { _ in session.rng.stateWords }
            : options.ranks.allGather(session.rng.stateWords, operation: "generator states")
        try options.ranks.check()
        session.state.epochLoss.append(meanLoss)
        let thisDice = epochDice ?? [Double](repeating: .nan, count: structures.count)
        session.state.epochDice.append(thisDice)
        let mean = Self.meanIgnoringNaN(thisDice)
        let isBest = session.data.validation.isEmpty || (mean.isFinite && mean > session.state.bestDice)
        if isBest && mean.isFinite { session.state.bestDice = mean }
        session.epochSeconds.append(seconds)
        session.state.seconds = session.elapsedSeconds
        // Rank 0 writes the run's files; the others are done with the epoch.
        guard options.ranks.isRoot else { return }
        try session.log?.sync()
        let state = session.state
        try CurvePlot(epochLoss: state.epochLoss,
                      dice: structures.indices.map { i in (structures[i], state.epochDice.map { $0.count > i ? $0[i] : .nan }) })
            .write(to: options.runFolder.appendingPathComponent("curves.png"))
        try saveCheckpoints(model: session.model, optimizer: session.optimizer, runConfig: session.runConfig,
                            state: session.state, best: isBest)
        let diceText = zip(structures, thisDice).map { "\($0) \($1.isNaN ? "-" : String(format: "%.4f", $1))" }.joined(separator: ", ")
        progress.message(String(format: "epoch %d/%d: loss %.4f", state.epochsDone, session.epochs, meanLoss)
            + (thisDice.allSatisfy(\.isNaN) ? "" : ", val Dice \(diceText)")
            + String(format: ", %.1f s", seconds) + ", peak RSS \(MemorySize.format(ResourceUsage.peakResidentBytes))")
    }

    static func meanIgnoringNaN(_ values: [Double]) -> Double {
        let finite = values.filter { !$0.isNaN }
        return finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
    }
}
