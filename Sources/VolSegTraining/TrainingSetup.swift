import Foundation
import VolSegCore
import VolSegModels
import VolSegNN

/// Turning a pipeline's settings into the objects of a run: the model config checked against the
/// data, the loss, the optimizer and the learning-rate schedule. The trainer and the memory
/// planner both build from here, so what is planned is what runs.
extension PipelineConfig {
    /// The model config with `input_channels` and `num_classes` from the data; values given in the
    /// file must agree with the data.
    public func resolvedModelConfig(channels: Int, labels: TrainingLabels) throws -> [String: Any] {
        var config = model.config
        func check(_ key: String, _ expected: Int, _ why: String) throws {
            if let given = config[key] {
                guard let n = given as? Int, n == expected else {
                    throw PipelineConfigError.modelConfigDisagrees(file: sourcePath, key: key, given: "\(given)", expected: expected, reason: why)
                }
            }
            config[key] = expected
        }
        try check("input_channels", channels, "the data's \(channels) modalities")
        let why = labels.target == .labels ? "\(labels.convention.name)'s \(labels.classCount) label classes"
                                           : "\(labels.convention.name)'s \(labels.convention.regions.count) regions"
        try check("num_classes", labels.outputChannels, why)
        return config
    }

    public func makeLoss(labels: TrainingLabels) throws -> SegmentationLoss {
        let kind: SegmentationLoss.Kind
        switch labels.target {
        case .labels:
            if let weights = loss.classWeights, weights.count != labels.classCount {
                throw PipelineConfigError.classWeightCount(file: sourcePath, weights: weights.count, classes: labels.classCount,
                                                           classValues: labels.classValues)
            }
            kind = .labels(classWeights: loss.classWeights?.map(Float.init))
        case .regions:
            if loss.classWeights != nil {
                throw PipelineConfigError.classWeightsWithRegions(file: sourcePath)
            }
            kind = .regions(membership: labels.regionMembership)
        }
        return SegmentationLoss(kind: kind, diceWeight: Float(loss.diceWeight), crossEntropyWeight: Float(loss.crossEntropyWeight),
                                smooth: Float(loss.smooth), batchDice: loss.batchDice, deepSupervision: loss.deepSupervision)
    }

    public func makeOptimizer(_ parameters: [(name: String, tensor: Tensor)]) -> Optimizer {
        let o = optimizer
        switch o.kind {
        case .sgd:
            return SGD(parameters: parameters, learningRate: Float(o.learningRate), momentum: Float(o.momentum),
                       nesterov: o.nesterov, weightDecay: Float(o.weightDecay))
        case .adamw:
            return AdamW(parameters: parameters, learningRate: Float(o.learningRate), beta1: Float(o.betas[0]),
                         beta2: Float(o.betas[1]), epsilon: Float(o.epsilon), weightDecay: Float(o.weightDecay))
        }
    }

    public var learningRateSchedule: LearningRateSchedule {
        schedule.kind == .poly ? .poly(exponent: schedule.exponent) : .constant
    }

    /// Builds the model (planned: shapes only, for the planner), in its training stage.
    public func makeModel(config: [String: Any], seed: UInt64, planned: Bool) throws -> SegmentationModel {
        let built: SegmentationModel
        do {
            built = try ModelRegistry.make(name: model.name, config: config, initializer: ParameterInitializer(seed: seed, planned: planned))
        } catch {
            throw PipelineConfigError.modelNotBuilt(file: sourcePath, reason: "\(error)")
        }
        if let stage = model.stage {
            guard let staged = built as? HDenseUNet, let value = HDenseUNetStage(rawValue: stage) else {
                throw PipelineConfigError.stageNotApplicable(file: sourcePath, model: model.name)
            }
            staged.setTrainingStage(value)
        }
        return built
    }

    /// Loads `model.initialize_from` into a freshly built model.
    func initializeWeights(_ built: SegmentationModel) throws {
        guard let path = model.initializeFrom else { return }
        let url = URL(fileURLWithPath: path)
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint.read(from: url) } catch {
            throw PipelineConfigError.initializationFailed(file: sourcePath, checkpoint: path, reason: "\(error)")
        }
        do { try built.load(state: checkpoint.modelState) } catch {
            throw PipelineConfigError.initializationFailed(file: sourcePath, checkpoint: path, reason: "\(error)")
        }
    }
}
