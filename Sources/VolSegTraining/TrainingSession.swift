import Foundation
import VolSegCore
import VolSegInference
import VolSegModels
import VolSegNN

/// A run in progress: what `Trainer.startSession` set up and what each epoch changes (state,
/// generator, last validation, epoch times).
final class TrainingSession {
    let data: TrainingData
    let plan: TrainingPlan
    let model: SegmentationModel
    let parameters: [(name: String, tensor: Tensor)]
    let optimizer: Optimizer
    let loss: SegmentationLoss
    /// The checkpoint config every checkpoint of the run carries.
    let runConfig: ModelBundleConfig
    let validation: ValidationRunner
    /// Data-parallel runs: the per-step gradient exchange (its bucket allocated once).
    let gradientAverager: GradientAverager
    let loader: BatchLoader
    /// Rank 0's, opened once every rank has started (nil on the other ranks of a data-parallel
    /// run, which write nothing).
    var log: TrainingLog?
    let structures: [String]
    let epochs: Int
    let steps: Int
    var state: TrainingState
    var rng: RandomGenerator
    var lastDice: [Double]
    var epochSeconds: [Double] = []
    /// When this process started the run, and the run's seconds before it (a resumed run).
    let started: Date
    let secondsBefore: Double
    let preprocessingPeak: Int
    /// Held for the run: its lock keeps a second run out of the folder.
    var runFolder: RunFolder?

    init(data: TrainingData, plan: TrainingPlan, model: SegmentationModel, parameters: [(name: String, tensor: Tensor)], optimizer: Optimizer,
         loss: SegmentationLoss, runConfig: ModelBundleConfig, validation: ValidationRunner,
         gradientAverager: GradientAverager, loader: BatchLoader,
         log: TrainingLog?, structures: [String], epochs: Int, steps: Int, state: TrainingState, rng: RandomGenerator,
         started: Date, preprocessingPeak: Int) {
        self.data = data
        self.plan = plan
        self.model = model
        self.parameters = parameters
        self.optimizer = optimizer
        self.loss = loss
        self.runConfig = runConfig
        self.validation = validation
        self.gradientAverager = gradientAverager
        self.loader = loader
        self.log = log
        self.structures = structures
        self.epochs = epochs
        self.steps = steps
        self.state = state
        self.rng = rng
        self.lastDice = [Double](repeating: .nan, count: structures.count)
        self.started = started
        self.secondsBefore = state.seconds
        self.preprocessingPeak = preprocessingPeak
    }

    /// The run's seconds so far, across resumptions.
    var elapsedSeconds: Double { secondsBefore + Date().timeIntervalSince(started) }

    /// The ledger peak of the run: preprocessing, or what the steps reached since.
    var ledgerPeak: Int { max(preprocessingPeak, MemoryLedger.shared.peakBytes) }

    var summary: TrainingSummary {
        TrainingSummary(plan: plan, epochsDone: state.epochsDone, structureNames: structures, lastDice: lastDice,
                        bestDice: state.bestDice,
                        secondsPerEpoch: epochSeconds.isEmpty ? 0 : epochSeconds.reduce(0, +) / Double(epochSeconds.count),
                        ledgerPeakBytes: ledgerPeak, rssPeakBytes: ResourceUsage.peakResidentBytes)
    }
}
