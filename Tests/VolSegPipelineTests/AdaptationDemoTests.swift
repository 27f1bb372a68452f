import XCTest
import VolSegTestSupport
@testable import VolSegPipeline

/// The liver demonstration's parts: the CT split at z = 64 (file voxels), preprocessed to a 2 mm
/// grid with CT statistics from the training half's foreground, and a small reversible MBConv
/// U-Net with BatchNorm trained on the whole training half as one batch.
struct LiverAdaptationDemo {
    let model: RevMBConvUNet
    let config: RevMBConvUNetConfig
    let preprocessor: Preprocessor
    let rawHeldOut: Tensor
    let trainImage: Tensor
    let heldOutLabels: Tensor
    let patch: [Int]
    var progressiveSettings = ProgressiveAdaptationSettings()

    nonisolated(unsafe) static var cached: LiverAdaptationDemo?

    static func make(steps: Int = 300) throws -> LiverAdaptationDemo {
        if let cached { return cached }
        guard let ctURL = TestPaths.sharedFile("data/liver117/ct.nii.gz"),
              let segURL = TestPaths.sharedFile("data/liver117/seg.nii.gz") else { throw XCTSkip("../shared absent") }
        let ct = try NIfTIReader.read(ctURL).voxels, seg = try NIfTIReader.read(segURL).voxels
        let depth = ct.shape[1]
        let train = ct.slice(axis: 1, 0..<64), trainLabels = seg.slice(axis: 1, 0..<64)
        let heldOut = ct.slice(axis: 1, 64..<depth), heldLabels = seg.slice(axis: 1, 64..<depth)
        let trainValues = train.toArray(), trainLabelValues = trainLabels.toArray()
        let foreground = zip(trainValues, trainLabelValues).compactMap { $1 > 0 ? $0 : nil }
        let preprocessor = Preprocessor(targetSpacing: [2, 2, 2], normalization: .ct(.fromTrainingForeground(foreground)),
                                        cropToNonzero: false)
        let prepared = preprocessor.run(image: train, spacing: [1, 1, 1], labels: binary(trainLabels))
        let config = RevMBConvUNetConfig(inputChannels: 1, classCount: 2, widths: [8, 16, 32, 64], blocksPerStage: 1,
                                         expansion: 2, norm: .batch, activationMemory: .stored)
        let model = RevMBConvUNet(config, initializer: ParameterInitializer(seed: 1))
        // Random patches of [16, 32, 32], two per batch, as a trainer samples them: the running
        // statistics average over patches of mixed content, not one image's statistics.
        let patch = [16, 32, 32]
        let windows = AdaptationWindows(images: [prepared.image], patch: patch, divisor: [8, 8, 8])
        let labelWindows = AdaptationWindows(images: [prepared.labels!], patch: patch, divisor: [8, 8, 8])
        var generator = RandomGenerator(seed: 5)
        let optimizer = AdamW(parameters: model.trainableParameters, learningRate: 3e-3, weightDecay: 0)
        model.train()
        for step in 0..<steps {
            // nnU-Net's poly schedule: the weights settle at the end, so the running statistics
            // (a momentum average over recent batches) describe the final weights.
            optimizer.learningRate = 3e-3 * powf(1 - Float(step) / Float(steps), 0.9)
            let positions = [windows.randomWindow(&generator), windows.randomWindow(&generator)]
            let x = Tensor.concat(positions.map { windows.batch($0) }, axis: 0)
            let y = Tensor.concat(positions.map { labelWindows.batch($0) }, axis: 0)
            optimizer.zeroGradients()
            let logits = model.forward(x)[0]
            let loss = crossEntropyLoss(logits, target: y) + softDiceLoss(logits, target: y)
            loss.backward()
            optimizer.step()
        }
        model.eval()
        let demo = LiverAdaptationDemo(model: model, config: config, preprocessor: preprocessor, rawHeldOut: heldOut, trainImage: prepared.image,
                                       heldOutLabels: binary(heldLabels), patch: patch)
        cached = demo
        return demo
    }

    static func binary(_ labels: Tensor) -> Tensor {
        Tensor(shape: labels.shape, values: labels.toArray().map { $0 >= 1 ? 1 : 0 })
    }

    /// The held-out half, through `shift` (in HU) if given, preprocessed with the model's statistics.
    func heldOutImage(shift: ScannerShift?) -> Tensor {
        let raw = shift.map { $0.apply(rawHeldOut) } ?? rawHeldOut
        return preprocessor.run(image: raw, spacing: [1, 1, 1]).image
    }

    func copyOfModel() -> RevMBConvUNet {
        let copy = RevMBConvUNet(config, initializer: ParameterInitializer(seed: 99))
        var state: [String: Tensor] = [:]
        for (name, tensor) in model.namedParameters() + model.namedBuffers() { state[name] = tensor.copy() }
        try! copy.load(state: state)
        copy.eval()
        return copy
    }

    /// Liver Dice of the model's prediction on a preprocessed held-out image, on the 2 mm grid.
    func liverDice(_ model: SegmentationModel, _ image: Tensor) -> Double {
        let inference = SlidingWindowInference(model: model, output: .labels([0, 1]), patch: patch)
        let probabilities = inference.predict(image)
        let labels = preprocessor.run(image: rawHeldOut, spacing: [1, 1, 1], labels: heldOutLabels).labels!.toArray()
        let p = probabilities.toArray(), volume = labels.count
        var tp = 0, fp = 0, fn = 0
        for i in 0..<volume {
            let predicted = p[volume + i] > p[i], truth = labels[i] >= 1
            if predicted && truth { tp += 1 } else if predicted { fp += 1 } else if truth { fn += 1 }
        }
        return 2 * Double(tp) / Double(max(2 * tp + fp + fn, 1))
    }
}
