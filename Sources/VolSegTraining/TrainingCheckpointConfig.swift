import Foundation
import VolSegInference
import VolSegIO
import VolSegPreprocessing

/// The checkpoint config of a training run is Inference's `ModelBundleConfig` (the one schema,
/// one writer, one reader) with its `training` record filled in; this turns training's types into
/// it and back.
extension ModelBundleConfig {
    /// The config `volseg train` writes into every checkpoint: what segmenting needs (the output
    /// channels' meaning follows the convention and target) plus the run's record.
    public init(trainingModel modelName: String, modelConfig: [String: Any], modalities: [String], labels: TrainingLabels,
                preprocessor: Preprocessor, plan: TrainingPlan, seed: UInt64, epochs: Int, iterationsPerEpoch: Int,
                pipelineText: String, pipelineName: String) {
        let convention = labels.convention
        let record = CheckpointTrainingRecord(
            target: labels.target.rawValue, convention: convention, batchSize: plan.batchSize, recompute: plan.recompute,
            seed: seed, epochs: epochs, iterationsPerEpoch: iterationsPerEpoch, pipelineText: pipelineText,
            pipelineName: pipelineName)
        self.init(modelName: modelName, modelConfig: modelConfig, patch: plan.patchSize, preprocessor: preprocessor,
                  labelConventionName: convention.name,
                  output: labels.segmentationOutput,
                  modalities: modalities, training: record)
    }

    /// The run record, or an error naming `file` for a checkpoint `volseg train` did not write.
    public func trainingRecord(file: String) throws -> CheckpointTrainingRecord {
        guard let training else {
            throw TrainingSetupError.notATrainingCheckpoint(file: file)
        }
        return training
    }

    /// The labels the run trained on.
    public func trainingLabels(file: String) throws -> TrainingLabels {
        let record = try trainingRecord(file: file)
        guard let target = TrainingTarget(rawValue: record.target) else {
            throw TrainingSetupError.unknownTrainingTarget(file: file, target: record.target)
        }
        return try TrainingLabels(convention: record.convention, target: target)
    }

    /// The run's patch, batch and recomputed stages.
    public func trainingPlan(file: String) throws -> TrainingPlan {
        let record = try trainingRecord(file: file)
        return TrainingPlan(patchSize: patch, batchSize: record.batchSize, recompute: record.recompute)
    }
}
