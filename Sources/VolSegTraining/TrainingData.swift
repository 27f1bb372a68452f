import Foundation
import VolSegCore
import VolSegIO
import VolSegPreprocessing

/// The cases of a run held in memory: the training cases, preprocessed once, that the sampler
/// draws from; the validation cases as read (validation segments them as `volseg segment` would);
/// and the resolved preprocessing (with the CT statistics of the training cases' foreground,
/// which the checkpoint stores).
public struct TrainingData: @unchecked Sendable {
    public var training: [TrainingCase]
    public var validation: [ValidationCase]
    public var labels: TrainingLabels
    public var modalities: [String]
    public var preprocessor: Preprocessor
    /// Image + label bytes (Float32, whole files) of the largest case as read: preprocessing holds
    /// a few copies of it at once, which the memory planner counts.
    public var largestSourceBytes: Int

    /// Median [D, H, W] of the training cases (the planner's largest useful patch).
    public var medianShape: [Int] {
        guard !training.isEmpty else { return [0, 0, 0] }
        return (0..<3).map { axis in
            let values = training.map { $0.spatialShape[axis] }.sorted()
            return values[values.count / 2]
        }
    }

    /// Bytes the cached cases hold (they are tensors, so the ledger counts them too).
    public var cacheBytes: Int {
        training.reduce(0) { $0 + $1.byteCount } + validation.reduce(0) { $0 + $1.byteCount }
    }

    /// One source of a case before preprocessing: a dataset case, optionally cut to a slab along
    /// one NIfTI axis (the slab validation split).
    struct Source {
        let item: DatasetCase
        let slab: (axis: Int, range: Range<Int>)?
        let id: String
    }

    /// Finds, splits, and preprocesses the cases. `normalization` (from a checkpoint being resumed)
    /// replaces the statistics computed from the data.
    public static func load(config: PipelineConfig, folder: URL, normalization fixed: IntensityNormalization? = nil,
                            log: (String) -> Void = { _ in }) throws -> TrainingData {
        let (cases, modalities, convention) = try datasetCases(config: config, folder: folder)
        let labels = try TrainingLabels(convention: convention, target: config.data.target)
        let (trainSources, validationSources) = try split(cases, config.validation)
        guard !trainSources.isEmpty else { throw TrainingSetupError.noTrainingCasesAfterSplit(folder: folder.path) }

        let normalization: IntensityNormalization
        switch (fixed, config.preprocessing.normalization) {
        case (let fixed?, _): normalization = fixed
        case (nil, .none): normalization = .none
        case (nil, .zscore): normalization = .zScoreInsideMask
        case (nil, .ct):
            log("CT statistics from the foreground of \(trainSources.count) training case(s)")
            normalization = .ct(try ctStatistics(trainSources, window: config.preprocessing.ctWindow))
        }
        let preprocessor = Preprocessor(targetSpacing: config.preprocessing.targetSpacing, normalization: normalization,
                                        cropToNonzero: config.preprocessing.cropToNonzero)
        var largestSource = 0
        func prepare(_ sources: [Source]) throws -> [TrainingCase] {
            try sources.map { source in
                let (image, labelMap, header, file, loaded) = try loadVoxels(source)
                largestSource = max(largestSource, loaded)
                let shape = [image.shape[3], image.shape[2], image.shape[1]]
                let orientation = CanonicalOrientation(affine: header.affine, spatialShape: shape)
                let prepared = preprocessor.run(image: orientation.toCanonical(image), spacing: orientation.canonicalSpacing,
                                                labels: orientation.toCanonical(labelMap))
                let classes = try labels.classIndices(prepared.labels!, file: file)
                return TrainingCase(id: source.id, image: prepared.image, labels: classes, classCount: labels.classCount)
            }
        }
        func validationCases(_ sources: [Source]) throws -> [ValidationCase] {
            try sources.map { source in
                let (image, labelMap, header, file, loaded) = try loadVoxels(source)
                largestSource = max(largestSource, loaded)
                _ = try labels.classIndices(labelMap, file: file)
                let volume = NIfTIVolume(header: header, voxels: image, path: source.item.channels[0].file.path)
                // The network grid is known only after cropping to the nonzero box: preprocess once.
                let networkShape = try preprocessor.prepare(volume).record.resampledShape
                return ValidationCase(id: source.id, image: volume, reference: labelMap, networkShape: networkShape)
            }
        }
        log("preprocessing \(trainSources.count) training and \(validationSources.count) validation case(s)")
        let training = try prepare(trainSources), validation = try validationCases(validationSources)
        for c in training where c.channelCount != modalities.count {
            throw TrainingSetupError.channelCountMismatch(caseID: c.id, channels: c.channelCount, modalities: modalities)
        }
        for c in validation where c.image.channels != modalities.count {
            throw TrainingSetupError.channelCountMismatch(caseID: c.id, channels: c.image.channels, modalities: modalities)
        }
        return TrainingData(training: training, validation: validation, labels: labels, modalities: modalities,
                            preprocessor: preprocessor, largestSourceBytes: largestSource)
    }

    /// The labelled cases of the folder (a detected layout, or the pipeline's explicit list).
    static func datasetCases(config: PipelineConfig, folder: URL) throws -> ([DatasetCase], [String], LabelConvention) {
        let named = config.data.labelConvention.flatMap(LabelConvention.named)
        if let explicit = config.data.cases {
            guard let convention = named else {
                throw TrainingSetupError.casesNeedLabelConvention(pipeline: config.sourcePath, conventions: LabelConvention.builtIn.map(\.name))
            }
            let channels = explicit[0].images.count
            let modalities = config.data.modalities ?? (0..<channels).map { "channel\($0)" }
            let cases = try explicit.map { c -> DatasetCase in
                guard c.images.count == modalities.count else {
                    throw TrainingSetupError.caseImageCount(pipeline: config.sourcePath, caseID: c.id, images: c.images.count, expected: modalities.count)
                }
                let files = c.images.map { folder.appendingPathComponent($0) } + [c.label.map { folder.appendingPathComponent($0) }].compactMap { $0 }
                if let missing = files.first(where: { !FileManager.default.fileExists(atPath: $0.path) }) {
                    throw TrainingSetupError.missingCaseFile(path: missing.path, caseID: c.id, pipeline: config.sourcePath)
                }
                return DatasetCase(id: c.id, channels: zip(modalities, c.images).map { DatasetChannel(modality: $0, file: folder.appendingPathComponent($1)) },
                                   labelFile: c.label.map { folder.appendingPathComponent($0) }, labelConvention: convention)
            }
            return (cases.filter { $0.labelFile != nil }, modalities, convention)
        }
        let layout = try DatasetDetector.detect(folder)
        let (cases, problems) = layout.scan()
        if let first = problems.first {
            throw TrainingSetupError.datasetProblems(folder: folder.path, layout: layout.layoutName, count: problems.count, first: first)
        }
        if let wanted = config.data.modalities,
           wanted.map({ $0.lowercased() }) != layout.modalities.map({ $0.lowercased() }) {
            throw TrainingSetupError.modalitiesMismatch(pipeline: config.sourcePath, wanted: wanted, layout: layout.layoutName,
                                                         found: layout.modalities, folder: folder.path)
        }
        let labelled = cases.filter { $0.labelFile != nil }.sorted { $0.id < $1.id }
        guard !labelled.isEmpty else { throw TrainingSetupError.noLabelledCases(folder: folder.path) }
        return (labelled, layout.modalities, named ?? layout.labelConvention)
    }

    /// Training and validation sources by the configured split.
    static func split(_ cases: [DatasetCase], _ v: ValidationSettings) throws -> ([Source], [Source]) {
        switch v.split {
        case .fraction:
            let count = cases.count < 2 || v.fraction == 0 ? 0 : min(cases.count - 1, max(1, Int((Double(cases.count) * v.fraction).rounded())))
            let sources = cases.map { Source(item: $0, slab: nil, id: $0.id) }
            return (Array(sources.dropLast(count)), Array(sources.suffix(count)))
        case .cases:
            let ids = Set(cases.map(\.id))
            if let unknown = v.cases.first(where: { !ids.contains($0) }) {
                throw TrainingSetupError.unknownValidationCase(caseID: unknown, cases: cases.map(\.id))
            }
            let wanted = Set(v.cases)
            let sources = cases.map { Source(item: $0, slab: nil, id: $0.id) }
            return (sources.filter { !wanted.contains($0.id) }, sources.filter { wanted.contains($0.id) })
        case .slab:
            var train: [Source] = [], validation: [Source] = []
            for c in cases {
                let info = try NIfTIReader.readHeader(c.channels[0].file)
                let size = info.spatialShape[v.axis]
                guard v.from > 0 && v.from < size else {
                    throw TrainingSetupError.validationSlabOutside(from: v.from, axis: v.axis, file: c.channels[0].file.path, size: size)
                }
                train.append(Source(item: c, slab: (v.axis, 0..<v.from), id: "\(c.id)[\(["x", "y", "z"][v.axis])<\(v.from)]"))
                validation.append(Source(item: c, slab: (v.axis, v.from..<size), id: "\(c.id)[\(["x", "y", "z"][v.axis])>=\(v.from)]"))
            }
            return (train, validation)
        }
    }

    /// Image [C, D, H, W] and labels [1, D, H, W] on the file grid (cut to the slab), the image
    /// header (a slab's is moved to the slab's first voxel), the label file's path, and the
    /// bytes of image and labels as read (the whole files, also for a slab).
    static func loadVoxels(_ source: Source) throws -> (Tensor, Tensor, NIfTIHeader, String, Int) {
        let image = try source.item.loadImage()
        try image.requireThreeDimensional()
        guard let label = try source.item.loadLabel(matching: image), let file = source.item.labelFile else {
            throw TrainingSetupError.caseWithoutLabel(caseID: source.item.id)
        }
        let loaded = image.voxels.byteCount + label.voxels.byteCount
        guard let slab = source.slab else { return (image.voxels, label.voxels, image.header, file.path, loaded) }
        let tensorAxis = 3 - slab.axis
        let cut = image.voxels.slice(axis: tensorAxis, slab.range)
        var lower = [0, 0, 0], shape = image.header.spatialShape
        lower[slab.axis] = slab.range.lowerBound
        shape[slab.axis] = slab.range.count
        return (cut, label.voxels.slice(axis: tensorAxis, slab.range),
                image.header.cropped(lower: lower, spatialShape: shape), file.path, loaded)
    }

    /// nnU-Net's CT scheme over the TRAINING cases' foreground (label > 0): 0.5/99.5 percentiles
    /// (or the fixed window) and mean/std, from an even sample of at most 1,000,000 voxels.
    static func ctStatistics(_ sources: [Source], window: ClosedRange<Double>?) throws -> CTNormalization {
        let perCase = max(10_000, 1_000_000 / max(sources.count, 1))
        var samples: [Float] = []
        for source in sources {
            let (image, labels, _, _, _) = try loadVoxels(source)
            let volume = labels.count
            let x = image.data, y = labels.data
            var foreground = 0
            for i in 0..<volume where y[i] > 0 { foreground += 1 }
            let stride = max(1, foreground / perCase)
            var seen = 0
            for i in 0..<volume where y[i] > 0 {
                if seen % stride == 0 { samples.append(x[i]) }
                seen += 1
            }
        }
        guard !samples.isEmpty else { throw TrainingSetupError.noForegroundForCTStatistics }
        guard let window else { return CTNormalization.fromTrainingForeground(samples) }
        let lo = Float(window.lowerBound), hi = Float(window.upperBound)
        let clipped = samples.map { min(max($0, lo), hi) }
        let mean = clipped.reduce(0.0) { $0 + Double($1) } / Double(clipped.count)
        let variance = clipped.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(clipped.count)
        return CTNormalization(lower: lo, upper: max(hi, lo + 1), mean: Float(mean), std: Float(max(variance.squareRoot(), 1e-8)))
    }
}
