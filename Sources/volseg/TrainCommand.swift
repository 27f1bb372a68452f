import ArgumentParser
import Foundation
import VolSegCore
import VolSegDistributed
import VolSegIO
import VolSegReport
import VolSegTraining

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model from a pipeline configuration.",
        discussion: """
            Writes RUNDIR/checkpoint_last.h5 (every epoch), checkpoint_best.h5 (best mean validation \
            Dice), log.csv (one row per step), curves.png and report.html (the curves, and the planned and measured memory). With --memory-budget the run plans \
            patch, batch and recomputed stages to fit (when the pipeline says auto), refuses a budget \
            that nothing fits, and stops if resident memory ever exceeds it. --epochs is the total, \
            also with --resume, which continues RUNDIR/checkpoint_last.h5 exactly. A folder holding a run \
            needs --resume or --overwrite; while a run trains, RUNDIR/.volseg.lock keeps a second one out.

            Data-parallel over MPI: `mpirun -np N volseg train ...` or `srun volseg train ...`. Every rank             trains on its own patches with the same weights, gradients are averaged after each step, rank 0             writes RUNDIR. --memory-budget is per rank: several ranks on one machine share its memory, so             give each its share (a 64 GiB node with 4 ranks: --memory-budget 15GiB). --threads defaults to             the machine's cores divided by the ranks on it. --resume needs the same number of ranks.
            """)

    @Option(name: .long, help: "Pipeline file (pipelines/*.yaml).")
    var config: String

    @Option(name: .long, help: "Dataset folder (BraTS, MSD, LiTS, nnU-Net raw, or the folder the pipeline's data.cases are in).")
    var data: String

    @Option(name: [.long, .customShort("o")], help: "Run folder for checkpoints, log.csv and curves.png.")
    var out: String

    @Option(name: .customLong("memory-budget"), help: "Whole-process memory budget (per rank under mpirun): bytes, or e.g. 6GiB, 1536MiB, 2GB.",
            transform: MemorySize.argument)
    var memoryBudget: MemorySize?

    @Option(name: .long, help: "Total epochs (default: the pipeline's).")
    var epochs: Int?

    @Option(name: .customLong("iterations-per-epoch"), help: "Steps per epoch (default: the pipeline's).")
    var iterationsPerEpoch: Int?

    @Flag(name: .long, help: "Continue RUNDIR/checkpoint_last.h5.")
    var resume = false

    @Flag(name: .long, help: "Replace the run in RUNDIR (its checkpoints, log.csv and curves.png); without it, or --resume, a folder holding checkpoint_last.h5 is refused.")
    var overwrite = false

    @Option(name: .customLong("rank-timeout"), help: "Data-parallel runs: seconds a rank may go without answering before the others stop with 'rank K did not respond'.")
    var rankTimeout: Double = 60

    @Option(name: .customLong("bucket-size"), help: "Data-parallel runs: gradient bytes summed per MPI_Allreduce (e.g. 25MiB).",
            transform: MemorySize.argument)
    var bucketSize: MemorySize = MemorySize(bytes: 25 << 20)

    @Flag(name: .customLong("sync-batchnorm"), help: "Data-parallel runs: BatchNorm statistics over all ranks' batches (needed when each rank's batch is 1 or 2); default: each rank's own, as PyTorch DDP.")
    var syncBatchNorm = false

    @Option(name: .customLong("test-patch-assignment"), help: .hidden)
    var testPatchAssignment: String?

    @Option(name: .customLong("stop-after-epochs"), help: "Stop once this many epochs are done in total, as if killed (for tests of --resume).")
    var stopAfterEpochs: Int?

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if resume && overwrite { throw ValidationError("--resume continues the run in --out and --overwrite replaces it: give one") }
        if !(rankTimeout >= 1) { throw ValidationError("--rank-timeout must be at least 1 second, got \(rankTimeout)") }
        if bucketSize.bytes < 4 { throw ValidationError("--bucket-size must hold at least one value (4 bytes), got \(bucketSize.bytes)") }
        if let testPatchAssignment, testPatchAssignment != "slices" {
            throw ValidationError("--test-patch-assignment takes 'slices', got '\(testPatchAssignment)'")
        }
        for (name, value) in [("--epochs", epochs), ("--iterations-per-epoch", iterationsPerEpoch), ("--stop-after-epochs", stopAfterEpochs)] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1, got \(value)") }
        }
    }

    func run() throws {
        let ranks = try DistributedLaunch.group(rankTimeout: rankTimeout)
        common.apply(ranks: ranks)
        let pipeline = try PipelineConfig.load(URL(fileURLWithPath: config))
        var options = TrainingOptions(dataFolder: URL(fileURLWithPath: data), runFolder: URL(fileURLWithPath: out))
        options.memoryBudget = memoryBudget?.bytes
        options.epochs = epochs
        options.iterationsPerEpoch = iterationsPerEpoch
        options.seed = common.seed
        options.resume = resume
        options.overwrite = overwrite
        options.stopAfterEpochs = stopAfterEpochs
        options.ranks = ranks
        options.bucketBytes = bucketSize.bytes
        options.syncBatchNorm = syncBatchNorm
        options.reportCases = 3
        if testPatchAssignment == "slices" { options.patchAssignment = .slicesOfOneBatch }
        if ranks.size > 1 && ranks.isRoot && !common.quiet {
            FileHandle.standardError.write(Data("data-parallel: \(ranks.size) ranks, \(Parallel.threadCount) thread(s) each\n".utf8))
        }
        // The other ranks train silently: rank 0 reports the run.
        let progress = ranks.isRoot ? ProgressDisplay(common) : ProgressDisplay(style: .quiet)
        defer { progress.clear() }
        let summary = try Trainer(config: pipeline, options: options, progress: progress).run()
        guard ranks.isRoot else { return }
        try writeReport(summary, run: options.runFolder)
        let dice = zip(summary.structureNames, summary.lastDice).map { "\($0) \($1.isNaN ? "-" : String(format: "%.4f", $1))" }
        print("trained \(summary.epochsDone) epoch(s) into \(out): "
            + (dice.isEmpty ? "" : "last val Dice \(dice.joined(separator: ", ")); ")
            + String(format: "%.1f s/epoch; ", summary.secondsPerEpoch)
            + "peak RSS \(MemorySize.format(summary.rssPeakBytes)), ledger peak \(MemorySize.format(summary.ledgerPeakBytes))")
    }

    /// RUN/report.html beside curves.png: the curves from log.csv and the plan's memory beside the
    /// measured peaks.
    func writeReport(_ summary: TrainingSummary, run: URL) throws {
        let log = try TrainingLog.read(run.appendingPathComponent("log.csv"))
        let (structures, steps) = TrainingReportPage.steps(header: log.header, rows: log.rows)
        let plan = summary.plan
        let isCT = ViewerVolume.isCT(channelNames: summary.modalities)
        let cases = try summary.validationPreviews.map { preview -> TrainingReportPage.Case in
            let header = preview.image.header
            let volume = try ViewerVolume(header: header, image: preview.image.voxels, channelNames: summary.modalities, isCT: isCT,
                                          layers: [("reference", NIfTIVolume(header: header, voxels: preview.reference, path: preview.id)),
                                                   ("prediction", NIfTIVolume(header: header, voxels: preview.prediction.reshaped([1] + preview.prediction.shape.suffix(3)),
                                                                              path: preview.id))])
            return TrainingReportPage.Case(id: preview.id, dice: preview.dice, volume: volume)
        }
        let page = try TrainingReportPage.html(
            title: "VolSeg training run \(run.lastPathComponent): \(summary.epochsDone) epoch(s)", structures: structures, steps: steps,
            memory: .init(plannedLedgerPeakBytes: plan.ledgerPeakBytes, reserveBytes: plan.reserveBytes,
                          dataCacheBytes: plan.dataCacheBytes, budgetBytes: plan.budgetBytes), cases: cases)
        try AtomicFile.write(Data(page.utf8), to: run.appendingPathComponent("report.html"))
    }
}
