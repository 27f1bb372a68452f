import Foundation
import VolSegCore
import VolSegInference
import VolSegModels
import VolSegNN

/// The resumable state of a run besides weights and optimizer state: counters, the random
/// generator, the best validation score and the per-epoch history (for curves.png). Stored under
/// `training/` in the checkpoint as int64 arrays; floating-point values as their bit patterns, so
/// they come back exactly.
public struct TrainingState: Equatable, Sendable {
    public var epochsDone = 0
    public var iterationsDone = 0
    public var optimizerSteps = 0
    public var rngState: [UInt64] = []
    public var bestDice = -Double.infinity
    public var seconds = 0.0
    public var epochLoss: [Double] = []
    /// Per epoch, one value per reported structure (NaN where not validated).
    public var epochDice: [[Double]] = []
    /// Ranks of the run that wrote the checkpoint, and each rank's generator (4 words per rank,
    /// rank 0 first; rank 0's are `rngState`): a resumed run continues every rank's stream.
    public var worldSize = 1
    public var rankRNGStates: [UInt64] = []

    /// The generator state `rank` resumes with.
    func rankRNGState(_ rank: Int) -> [UInt64] {
        rankRNGStates.count >= 4 * (rank + 1) ? Array(rankRNGStates[(4 * rank)..<(4 * rank + 4)]) : rngState
    }

    public init() {}

    var groups: [String: [Int64]] {
        [
            "epoch": [Int64(epochsDone)],
            "iteration": [Int64(iterationsDone)],
            "optimizer_steps": [Int64(optimizerSteps)],
            "rng_state": rngState.map { Int64(bitPattern: $0) },
            "best_dice_bits": [Int64(bitPattern: bestDice.bitPattern)],
            "seconds_bits": [Int64(bitPattern: seconds.bitPattern)],
            "epoch_loss_bits": epochLoss.map { Int64(bitPattern: $0.bitPattern) },
            "epoch_dice_bits": epochDice.flatMap { $0 }.map { Int64(bitPattern: $0.bitPattern) },
            "structures": [Int64(epochDice.first?.count ?? 0)],
            "world_size": [Int64(worldSize)],
            "rank_rng_states": (rankRNGStates.isEmpty ? rngState : rankRNGStates).map { Int64(bitPattern: $0) },
        ]
    }

    init(groups: [String: [Int64]], path: String) throws {
        func one(_ key: String) throws -> Int64 {
            guard let v = groups[key]?.first else { throw TrainingSetupError.checkpointMissingTrainingState(path: path, key: key) }
            return v
        }
        epochsDone = Int(try one("epoch"))
        iterationsDone = Int(try one("iteration"))
        optimizerSteps = Int(try one("optimizer_steps"))
        rngState = (groups["rng_state"] ?? []).map { UInt64(bitPattern: $0) }
        guard rngState.count == 4 else { throw TrainingSetupError.checkpointRNGStateMalformed(path: path) }
        bestDice = Double(bitPattern: UInt64(bitPattern: try one("best_dice_bits")))
        seconds = Double(bitPattern: UInt64(bitPattern: try one("seconds_bits")))
        epochLoss = (groups["epoch_loss_bits"] ?? []).map { Double(bitPattern: UInt64(bitPattern: $0)) }
        let structures = Int(groups["structures"]?.first ?? 0)
        let flat = (groups["epoch_dice_bits"] ?? []).map { Double(bitPattern: UInt64(bitPattern: $0)) }
        // Checkpoints from before data-parallel training: one process.
        worldSize = Int(groups["world_size"]?.first ?? 1)
        rankRNGStates = (groups["rank_rng_states"] ?? rngState.map { Int64(bitPattern: $0) }).map { UInt64(bitPattern: $0) }
        guard worldSize >= 1, rankRNGStates.count == 4 * worldSize else { throw TrainingSetupError.checkpointRNGStateMalformed(path: path) }
        epochDice = structures > 0 ? stride(from: 0, to: flat.count, by: structures).map { Array(flat[$0..<min(flat.count, $0 + structures)]) } : []
    }
}

extension Trainer {
    /// Writes checkpoint_best.h5 when `best`, then checkpoint_last.h5, each atomically (the last
    /// one last: see `finishEpoch`).
    func saveCheckpoints(model: SegmentationModel, optimizer: Optimizer, runConfig: ModelBundleConfig,
                         state: TrainingState, best: Bool) throws {
        let provenance: [String: Any] = [
            "volseg_version": VolSegVersion.string,
            "written": ISO8601DateFormatter().string(from: Date()),
            "command": CommandLine.arguments.joined(separator: " "),
            "data": options.dataFolder.path,
            "pipeline_file": config.sourcePath,
            "epochs_done": state.epochsDone,
        ]
        var checkpoint = try Checkpoint(model: model, config: runConfig.json, provenance: provenance, optimizer: optimizer)
        checkpoint.training = state.groups
        if best { try checkpoint.write(to: options.runFolder.appendingPathComponent("checkpoint_best.h5")) }
        try checkpoint.write(to: options.runFolder.appendingPathComponent("checkpoint_last.h5"))
    }

    /// The checkpoint a `--resume` continues from, read by the one checkpoint reader and checked
    /// against this run's pipeline and seed.
    func readResumeCheckpoint() throws -> (checkpoint: Checkpoint, config: ModelBundleConfig, plan: TrainingPlan, state: TrainingState) {
        let url = options.runFolder.appendingPathComponent("checkpoint_last.h5")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TrainingSetupError.noCheckpointToResume(path: url.path)
        }
        let (checkpoint, runConfig) = try ModelBundle.readCheckpoint(url)
        let record = try runConfig.trainingRecord(file: url.path)
        guard record.pipelineText == config.sourceText else {
            throw TrainingSetupError.resumeWithDifferentPipeline(checkpoint: url.path, trainedWith: record.pipelineName, pipeline: config.sourcePath)
        }
        guard record.seed == options.seed else {
            throw TrainingSetupError.resumeWithDifferentSeed(checkpoint: url.path, trainedWith: record.seed, requested: options.seed)
        }
        return (checkpoint, runConfig, try runConfig.trainingPlan(file: url.path),
                try TrainingState(groups: checkpoint.training, path: url.path))
    }
}
