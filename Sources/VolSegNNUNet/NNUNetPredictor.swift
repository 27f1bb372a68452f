import Foundation
import VolSegCore
import VolSegIO
import VolSegInference
import VolSegPreprocessing

/// nnU-Net v2's inference on one case, step by step as `nnUNetPredictor` and
/// `export_prediction_from_logits` run it: preprocessing (`NNUNetPreprocessor`), sliding windows
/// at `stepSize` weighted by the Gaussian (sigma 1/8 of the patch), logits averaged over the
/// mirrorings the checkpoint allows and over the folds, then the logits resampled back to the
/// cropped grid, softmax (sigmoid for regions), argmax or region painting, the crop undone
/// (background outside the box) and the transposition undone.
///
/// One difference on purpose: nnU-Net accumulates the windows in float16 on every device
/// (`predicted_logits` and `n_predictions` are `torch.half`); VolSeg accumulates in Float32.
/// The results agree with a float32-patched nnU-Net to 1e-4 and with stock nnU-Net except where its
/// half precision rounds (see Tests/References/nnunet/README.md).
public struct NNUNetPredictor {
    public let model: NNUNetModelFolder
    public var stepSize: Double = 0.5
    /// Mirroring at test time (nnUNetv2_predict's default; `--disable_tta` turns it off). Without
    /// allowed axes in the checkpoint there is nothing to mirror.
    public var mirroring = true
    /// Reproduce stock nnU-Net's float16 Gaussian, window sums, fold sums and exported logits
    /// (see `SlidingWindowInference.halfPrecisionAccumulation`) instead of VolSeg's Float32.
    public var halfPrecision = false
    /// nnU-Net's postprocessing.pkl steps, applied to the exported label map (not the
    /// probabilities), as `nnUNetv2_apply_postprocessing` applies them to the written files.
    public var postprocessing: NNUNetPostprocessing?

    public init(model: NNUNetModelFolder) { self.model = model }

    /// The axes mirrored, in the 3D window's axes (a 2D configuration's axes shift by one, past the
    /// slice axis); empty when mirroring is off or not allowed.
    public var mirrorAxes: [Int] {
        guard mirroring, let axes = model.mirrorAxes else { return [] }
        return model.configuration.isTwoDimensional ? axes.map { $0 + 1 } : axes
    }

    /// The preprocessed case's logits [K, ...] averaged over the folds.
    public func predictLogits(_ data: Tensor, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) -> Tensor {
        let configuration = model.configuration
        let patch = configuration.isTwoDimensional ? [1] + configuration.patchSize : configuration.patchSize
        var sum: Tensor? = nil
        for fold in model.folds.indices {
            model.useFold(fold)
            var inference = SlidingWindowInference(model: model.network, output: model.labels.output, patch: patch,
                                                   step: stepSize, mirroring: !mirrorAxes.isEmpty)
            inference.mirrorAxes = mirrorAxes
            inference.averagesLogits = true
            inference.halfPrecisionAccumulation = halfPrecision
            let logits = inference.predict(data, progress: progress)
            if let total = sum { NNUNetPredictor.add(logits, into: total, roundingToHalf: halfPrecision) } else { sum = logits }
        }
        let logits = sum!
        if model.folds.count > 1 && !logits.isPlanned {
            let count = Float(model.folds.count), half = halfPrecision
            let values = logits.data
            Parallel.forEachChunk(logits.count, minimumChunk: 1 << 16) { range in
                for i in range { values[i] = half ? Float(Float16(values[i] / count)) : values[i] / count }
            }
        }
        return logits
    }

    /// Logits on the preprocessed grid -> the label map [1, z, y, x] on the input's grid, and the
    /// probabilities [K, z, y, x] when asked for.
    public func export(_ logits: Tensor, properties: NNUNetCaseProperties, probabilities wantsProbabilities: Bool)
        -> (labels: Tensor, probabilities: Tensor?) {
        let plans = model.plans, configuration = model.configuration, output = model.labels.output
        let spacing = properties.transposedSpacing(plans)
        // nnU-Net resamples from the configuration's nominal spacing, not the grid's actual one.
        let current = configuration.isTwoDimensional ? [spacing[0]] + configuration.spacing : configuration.spacing
        let settings = configuration.probabilityResampling
        var resampled: Tensor? = NNUNetResampling.resampleToShape(logits, newShape: properties.shapeAfterCropping, currentSpacing: current,
                                                                  newSpacing: spacing, order: settings.order, orderZ: settings.orderZ,
                                                                  forceSeparateZ: settings.forceSeparateZ)
        if halfPrecision && resampled! !== logits && !logits.isPlanned {
            // nnU-Net's resampling stores into an array of the input's dtype: float16.
            let values = resampled!.data
            Parallel.forEachChunk(resampled!.count, minimumChunk: 1 << 16) { range in for i in range { values[i] = Float(Float16(values[i])) } }
        }
        // Labels come from the logits directly (the argmax is the same) unless probabilities are
        // needed anyway or the outputs are sigmoid regions, painted where p > 0.5. Each stage's
        // input is let go as soon as the next exists, so at most two crop-sized maps are alive.
        let shape = resampled!.shape
        var activated: Tensor? = (wantsProbabilities || output.isRegionBased)
            ? output.activate(resampled!.reshaped([1] + shape)).reshaped(shape) : resampled!
        resampled = nil
        let crop = properties.crop
        var labels: Tensor? = output.labelMap(activated!)
        let fullLabels = NNUNetTranspose.spatial(crop.uncrop(labels!, fill: [0]), plans.transposeBackward)
        labels = nil
        if !wantsProbabilities { activated = nil }
        let fullProbabilities = activated.map { NNUNetTranspose.spatial(crop.uncrop($0, fill: output.backgroundFill), plans.transposeBackward) }
        return (fullLabels, fullProbabilities)
    }

    static func add(_ t: Tensor, into total: Tensor, roundingToHalf: Bool) {
        if total.isPlanned { return }
        let a = UnsafePointer(t.data), b = total.data
        Parallel.forEachChunk(t.count, minimumChunk: 1 << 16) { range in
            for i in range { b[i] = roundingToHalf ? Float(Float16(b[i] + a[i])) : b[i] + a[i] }
        }
    }
}

extension NNUNetPredictor {
    /// One case predicted and exported, not yet written.
    public struct Prediction {
        /// [1, z, y, x] label values on the input's grid (postprocessed when asked for).
        public var labels: Tensor
        /// [K, z, y, x] when asked for.
        public var probabilities: Tensor?
        public var properties: NNUNetCaseProperties
        /// The first channel's header: the output's geometry.
        public var header: NIfTIHeader
        /// Non-finite input voxels read as 0.
        public var nonFinite: Int
        /// NibabelIOWithReorient: how the input was reoriented to RAS. `labels` are back on the
        /// input's grid; `probabilities` stay on the RAS grid, as nnU-Net saves them.
        public var orientation: CanonicalOrientation?
    }

    /// Reads, preprocesses, predicts and exports one case. With `planned`, reading and
    /// preprocessing run for real and everything after on shape-only tensors (no network
    /// arithmetic): the same ledger peak as a real run, and outputs without values. Each stage's
    /// input is let go once the next exists (the ledger counts what is alive).
    public func predict(_ item: NNUNetCase, probabilities wantsProbabilities: Bool, planned: Bool = false,
                        progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Prediction {
        var read = try item.read(with: model.plans.imageReader)
        var preprocessed = NNUNetPreprocessor(plans: model.plans, configuration: model.configuration).run(read.image, spacing: read.spacing)
        read.image = Tensor.empty([0])
        var data = preprocessed.data
        preprocessed.data = Tensor.empty([0])
        if planned { Tensor.replaceWithPlanned(&data) }
        var logits: Tensor? = predictLogits(data, progress: progress)
        data = Tensor.empty([0])
        var exported: (labels: Tensor, probabilities: Tensor?)? = export(logits!, properties: preprocessed.properties,
                                                                            probabilities: wantsProbabilities)
        logits = nil
        var labels = exported!.labels
        let probabilities = exported!.probabilities
        exported = nil
        if let orientation = read.orientation { labels = orientation.fromCanonical(labels) }
        if let postprocessing { labels = postprocessing.apply(labels) }
        return Prediction(labels: labels, probabilities: probabilities, properties: preprocessed.properties,
                          header: read.header, nonFinite: read.nonFinite, orientation: read.orientation)
    }

    /// Reads, preprocesses, predicts, exports and writes one case; returns how many non-finite
    /// input voxels were read as 0. The outputs are checked (writable, not an input) before any work.
    @discardableResult
    public func segment(_ item: NNUNetCase, into outputs: NNUNetOutputs,
                        progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Int {
        try outputs.check(inputs: item.files)
        let prediction = try predict(item, probabilities: outputs.needsProbabilities, progress: progress)
        try outputs.write(prediction, plans: model.plans)
        return prediction.nonFinite
    }

    /// The memory ledger's peak (bytes above what was live before) of `segment(item, into:
    /// outputs)`, from a planned run: reading and preprocessing for real, then the network, the
    /// export and the label map's write buffer as planned storage.
    public func plannedPeak(_ item: NNUNetCase, outputs: NNUNetOutputs) throws -> Int {
        try MemoryLedger.shared.measurePeak {
            let prediction = try predict(item, probabilities: outputs.needsProbabilities, planned: true)
            outputs.planWrite(prediction, largestLabel: model.labels.output.largestLabel)
        }.peakBytes
    }
}
