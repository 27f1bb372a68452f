import Foundation
import VolSegCore
import VolSegIO

/// Metric sets `volseg evaluate --metrics` can add; the default set (Dice, IoU, surface metrics,
/// counts) is always computed, since summary.json holds it.
public enum EvaluationMetrics: String, CaseIterable, Sendable {
    case standard = "default"
    /// BraTS 2023+ lesion-wise Dice and HD95 (`BraTSLesionWise`) for WT, TC and ET.
    case bratsLesionWise = "brats-lesionwise"
}

/// What `volseg evaluate` is asked to do.
public struct EvaluationOptions: Sendable {
    public var predictions: URL
    public var references: URL
    /// `--labels` arguments (`name=v1,v2`, `v`, or a region name of the reference dataset).
    public var labelArguments: [String]
    public var regions: EvaluationLabel.Regions?
    /// Evaluate the matched cases when some have no prediction or no reference.
    public var allowMissing: Bool
    /// Render a picture per case (the report's pictures/CASE.png).
    public var pictures: Bool
    /// Labels given already parsed (nnU-Net's `-l` or a dataset.json's labels/regions), evaluated
    /// after `regions` and `labelArguments`.
    public var labels: [EvaluationLabel]
    /// nnU-Net's `ignore_label`: reference voxels of this value count nowhere (not in TP, FP, FN,
    /// TN, nor in either surface), whatever the prediction says there.
    public var ignoreLabel: Int?
    public var surface: SurfaceMetricSettings
    /// Score predictions whose affine differs from their reference's (the shape must still agree).
    public var ignoreGeometry = false
    public var metrics: Set<EvaluationMetrics>
    /// The challenge whose parameters the lesion-wise metrics use.
    public var bratsChallenge: BraTSChallenge

    public init(predictions: URL, references: URL, labelArguments: [String] = [], regions: EvaluationLabel.Regions? = nil,
                allowMissing: Bool = false, pictures: Bool = true, labels: [EvaluationLabel] = [], ignoreLabel: Int? = nil,
                surface: SurfaceMetricSettings = SurfaceMetricSettings(), metrics: Set<EvaluationMetrics> = [.standard],
                bratsChallenge: BraTSChallenge = .gli) {
        self.predictions = predictions
        self.references = references
        self.labelArguments = labelArguments
        self.regions = regions
        self.allowMissing = allowMissing
        self.pictures = pictures
        self.labels = labels
        self.ignoreLabel = ignoreLabel
        self.surface = surface
        self.metrics = metrics
        self.bratsChallenge = bratsChallenge
    }
}

/// The scores of one case, one per evaluated label in the evaluation's label order.
public struct CaseEvaluation: Sendable {
    public let pair: EvaluationPair
    /// The reference's voxel size (x, y, z) in mm, which the distances use.
    public let spacingXYZ: [Double]
    public let scores: [MetricScores]
    /// The case's picture as a PNG file's bytes (nil when pictures are off).
    public let picture: [UInt8]?
    /// WT, TC and ET lesion-wise scores, with `--metrics brats-lesionwise`.
    public var lesionWise: [BraTSRegionScores]? = nil
    /// The label values found in the reference and the prediction (for the warnings about values
    /// no label covers; a merged evaluation reads them from its parts).
    public var labelValues: Set<Int> = []
    /// Those of the reference alone (a merge finds the labels of an evaluation without any named).
    public var referenceValues: Set<Int> = []
}

/// Scores every matched case. Everything that can be checked without the voxels (folders, case
/// matching, label arguments, grids) is checked before the first volume is read, so that a bad
/// input fails fast; nothing is written here (see `EvaluationReport`).
public enum Evaluation {
    /// `progress(done, total, case)` is called after each case.
    ///
    /// `part`: score only that part of the cases (sorted as below; a sharded evaluation). `scored`:
    /// the cases' scores from the parts of a sharded evaluation (`EvaluationPart`), used instead of
    /// reading the volumes; every case must be there. Either way the checks before scoring see every
    /// case, so each part and the merge refuse what the whole evaluation would.
    public static func run(_ options: EvaluationOptions, part: WorkPart = .whole, scored: [String: EvaluationPart.ScoredCase]? = nil,
                           progress: ((Int, Int, CaseEvaluation) -> Void)? = nil) throws -> EvaluationResult {
        let matching = try EvaluationMatching.match(predictions: options.predictions, references: options.references)
        if !matching.isComplete && !options.allowMissing {
            throw EvaluationError.unmatchedCases(missingPredictions: matching.missingPredictions,
                                                 extraPredictions: matching.extraPredictions)
        }
        if matching.pairs.isEmpty {
            throw EvaluationError.noCasesToEvaluate(predictions: options.predictions.path, references: options.references.path)
        }
        var labels = options.regions?.labels ?? []
        let explicit = try EvaluationLabel.parse(options.labelArguments, convention: matching.convention)
        for label in explicit where labels.contains(where: { $0.name == label.name }) {
            throw EvaluationLabel.Invalid(argument: label.description, reason: "the name \"\(label.name)\" is also a --regions name")
        }
        labels += explicit
        for label in options.labels {
            if labels.contains(where: { $0.name == label.name }) {
                throw EvaluationLabel.Invalid(argument: label.description, reason: "the name \"\(label.name)\" is given twice")
            }
            labels.append(label)
        }
        try checkKeys(labels, ignoreLabel: options.ignoreLabel)
        if let convention = matching.convention, !labels.isEmpty {
            let unknown = Set(labels.flatMap(\.values)).subtracting(convention.labels.keys).sorted()
            if !unknown.isEmpty {
                throw EvaluationError.labelValuesNotInDataset(
                    values: unknown, labels: labels.filter { !Set($0.values).isDisjoint(with: unknown) }.map(\.description),
                    convention: "\(convention.name): " + convention.labels.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
        for pair in matching.pairs { try checkGrids(pair, ignoreGeometry: options.ignoreGeometry) }
        let lesionWiseConvention = options.metrics.contains(.bratsLesionWise)
            ? try BraTSLesionWise.convention(detected: matching.convention, regions: options.regions) : nil

        var warnings = [String]()
        if labels.isEmpty {
            // Every foreground value of the references, each its own label: read them all first
            // (a merge takes the parts' labels, found so).
            var found = Set<Int>()
            if let scored {
                found = Set(scored.values.flatMap(\.referenceValues))
            } else {
                for pair in matching.pairs { found.formUnion(try labelValues(try NIfTIReader.read(pair.reference))) }
            }
            labels = EvaluationLabel.found(found.filter { $0 != options.ignoreLabel })
            if labels.isEmpty { throw EvaluationError.noLabels(references: options.references.path) }
        }

        // DICOM Segmentation predictions name their segments; these names give their values.
        let segmentLabelValues = EvaluationPrediction.labelValuesByName(convention: matching.convention, labels: labels)
        var cases = [CaseEvaluation](), seen = Set<Int>()
        // nnU-Net lists the cases in the sorted order of the prediction file names.
        let pairs = part.select(matching.pairs.sorted { $0.prediction.lastPathComponent < $1.prediction.lastPathComponent })
        for (index, pair) in pairs.enumerated() {
            if let scored {
                guard let item = scored[pair.caseID] else { throw EvaluationError.caseMissingFromParts(caseID: pair.caseID) }
                guard item.scores.count == labels.count else {
                    throw EvaluationError.partsDisagree(reason: "case \(pair.caseID) has \(item.scores.count) label score(s), the evaluation \(labels.count)")
                }
                var result = CaseEvaluation(pair: pair, spacingXYZ: item.spacingXYZ, scores: item.scores,
                                            picture: options.pictures ? item.picture.map { Array($0) } : nil, lesionWise: item.lesionWise)
                result.labelValues = Set(item.labelValues)
                result.referenceValues = Set(item.referenceValues)
                seen.formUnion(item.labelValues)
                cases.append(result)
                progress?(index + 1, pairs.count, result)
                continue
            }
            let reference = try NIfTIReader.read(pair.reference)
            let prediction = try EvaluationPrediction.read(pair.prediction, reference: reference, labelValues: segmentLabelValues)
            let referenceValues = try labelValues(reference)
            let caseValues = referenceValues.union(try labelValues(prediction))
            seen.formUnion(caseValues)
            let spacing = reference.header.spacing
            let shape = reference.spatialShape
            let (predictionVoxels, referenceVoxels, ignored) = removingIgnored(prediction: prediction.voxels, reference: reference.voxels,
                                                                              ignoreLabel: options.ignoreLabel)
            let scores = labels.map { label -> MetricScores in
                let values = Set(label.values)
                return MetricScores.compute(prediction: EvaluationMask(labels: predictionVoxels.data, shape: shape, values: values),
                                            reference: EvaluationMask(labels: referenceVoxels.data, shape: shape, values: values),
                                            spacingXYZ: spacing, surface: options.surface,
                                            nsdTolerance: options.surface.nsdTolerance(for: label), ignoredVoxels: ignored)
            }
            var picture: [UInt8]?
            if options.pictures {
                let image = loadImage(pair, grid: reference, warnings: &warnings)
                let rendered = EvaluationReportPicture.render(reference: reference.voxels, prediction: prediction.voxels,
                                                              image: image, spacingXYZ: spacing, caseID: pair.caseID,
                                                              dice: zip(labels, scores).map { ($0.name, $1.dice) })
                picture = try PNGWriter.encodeRGB(width: rendered.width, height: rendered.height, pixels: rendered.pixels)
            }
            // The BraTS code reads the raw maps (no ignore label) and the prediction's spacing.
            let lesionWise = lesionWiseConvention.map {
                BraTSLesionWise.evaluate(prediction: prediction.voxels.data, reference: reference.voxels.data, shape: shape,
                                         spacingXYZ: prediction.header.spacing, challenge: options.bratsChallenge, convention: $0)
            }
            var result = CaseEvaluation(pair: pair, spacingXYZ: spacing, scores: scores, picture: picture, lesionWise: lesionWise)
            result.labelValues = caseValues
            result.referenceValues = referenceValues
            cases.append(result)
            FaultPoint.reached("evaluate.scoring")
            progress?(index + 1, pairs.count, result)
        }

        // Values no evaluated label covers (a class the model predicts but nobody asked about, or a
        // dataset with more labels than named): listed, never silently dropped.
        let covered = Set(labels.flatMap(\.values)).union([0]).union(options.ignoreLabel.map { [$0] } ?? [])
        let uncovered = seen.subtracting(covered).sorted()
        if !uncovered.isEmpty {
            warnings.append("label value(s) \(uncovered.map(String.init).joined(separator: ", ")) occur in the label maps "
                + "but in no evaluated label or region; they are not scored")
        }
        // A label absent from every reference and prediction is a normal outcome of a dataset
        // evaluation (a subset without enhancing tumour): nnU-Net writes NaN; so do we, and say so.
        for label in labels where Set(label.values).isDisjoint(with: seen) {
            warnings.append("label \(label.name) (values \(label.values.map(String.init).joined(separator: ", "))) occurs in no "
                + "reference and no prediction: its Dice, IoU and NSD are NaN")
        }
        if let regions = options.regions {
            let absent = Set(regions.labels.flatMap(\.values)).subtracting(seen).sorted()
            if !absent.isEmpty {
                warnings.append("--regions \(regions.rawValue): label value(s) \(absent.map(String.init).joined(separator: ", ")) "
                    + "occur in no reference and no prediction (is this the right release's convention?)")
            }
        }
        var result = EvaluationResult(labels: labels, cases: cases, matching: matching, warnings: warnings)
        if let lesionWiseConvention {
            result.lesionWise = (options.bratsChallenge, lesionWiseConvention)
        }
        return result
    }

    /// The ignore label is no label. (Two names for the same values share one summary.json key;
    /// their metrics are the same, so the file holds them once and summary_extra.json names both.)
    static func checkKeys(_ labels: [EvaluationLabel], ignoreLabel: Int?) throws {
        guard let ignoreLabel else { return }
        for label in labels where label.values.contains(ignoreLabel) {
            throw EvaluationLabel.Invalid(argument: label.description, reason: "contains the ignore label \(ignoreLabel), whose voxels count nowhere")
        }
    }

    /// Both maps with the reference's ignore-label voxels set to -1 (no label's member) in copies,
    /// and how many there were; the maps themselves without an ignore label.
    static func removingIgnored(prediction: Tensor, reference: Tensor, ignoreLabel: Int?) -> (Tensor, Tensor, Int) {
        guard let ignoreLabel else { return (prediction, reference, 0) }
        let ignore = Float(ignoreLabel)
        let p = prediction.copy(), r = reference.copy()
        let pd = p.data, rd = r.data
        var count = 0
        for i in 0..<r.count where rd[i] == ignore {
            pd[i] = -1
            rd[i] = -1
            count += 1
        }
        return (p, r, count)
    }

    /// A prediction must lie on its reference's grid, and both must be single 3D volumes.
    /// How far a prediction's affine may stray from its reference's, per element of the 3x4 part:
    /// float32 headers round-trip to about 1e-5 mm; a real misregistration is far larger.
    static let affineTolerance = 1e-3

    static func checkGrids(_ pair: EvaluationPair, ignoreGeometry: Bool = false) throws {
        let reference = try NIfTIReader.readHeader(pair.reference)
        // A DICOM Segmentation has no grid of its own: its frames are placed on the reference's
        // voxels when it is read, and a frame off them is an error then.
        if EvaluationPrediction.isSegmentation(pair.prediction) {
            if reference.volumeCount != 1 {
                throw EvaluationError.notALabelMap(path: pair.reference.path, reason: "it holds \(reference.volumeCount) volumes (dims \(reference.dims))")
            }
            return
        }
        let prediction = try NIfTIReader.readHeader(pair.prediction)
        for (header, url) in [(reference, pair.reference), (prediction, pair.prediction)] where header.volumeCount != 1 {
            throw EvaluationError.notALabelMap(path: url.path, reason: "it holds \(header.volumeCount) volumes (dims \(header.dims))")
        }
        if prediction.spatialShape != reference.spatialShape {
            throw EvaluationError.shapeMismatch(prediction: pair.prediction.path, predictionShape: prediction.spatialShape,
                                                reference: pair.reference.path, referenceShape: reference.spatialShape)
        }
        guard !ignoreGeometry else { return }
        var largest = 0.0
        for r in 0..<3 { for c in 0..<4 { largest = max(largest, abs(prediction.affine[r, c] - reference.affine[r, c])) } }
        if largest > affineTolerance {
            throw EvaluationError.geometryMismatch(caseID: pair.caseID, prediction: pair.prediction.path,
                                                   reference: pair.reference.path, largestDifference: largest)
        }
    }

    /// The distinct values of a label map; every voxel must be a whole number in 0...65535.
    static func labelValues(_ volume: NIfTIVolume) throws -> Set<Int> {
        let count = volume.voxels.count, data = volume.voxels.data
        let chunks = max(1, min(64, count / 65_536))
        let size = (count + chunks - 1) / chunks
        var found = [Set<Int>](repeating: [], count: chunks)
        var bad = [Int](repeating: -1, count: chunks)
        found.withUnsafeMutableBufferPointer { sets in
            bad.withUnsafeMutableBufferPointer { firstBad in
                let setBase = sets.baseAddress!, badBase = firstBad.baseAddress!
                Parallel.forEach(chunks) { c in
                    var local = Set<Int>(), previous = Float.nan
                    for i in (c * size)..<min(count, (c + 1) * size) {
                        let v = data[i]
                        if v == previous { continue }   // runs of one label cost one comparison
                        guard v >= 0, v <= 65535, v == v.rounded() else { badBase[c] = i; break }
                        local.insert(Int(v))
                        previous = v
                    }
                    setBase[c] = local
                }
            }
        }
        if let index = bad.first(where: { $0 >= 0 }) {
            throw EvaluationError.notALabelMap(path: volume.path, reason: "voxel \(index) holds \(data[index]), not a label value (a whole number in 0...65535)")
        }
        return found.reduce(into: Set<Int>()) { $0.formUnion($1) }
    }

    /// The case's grey image for its picture, when it has one on the reference's grid.
    static func loadImage(_ pair: EvaluationPair, grid reference: NIfTIVolume, warnings: inout [String]) -> Tensor? {
        guard let channel = pair.image else { return nil }
        do {
            let volume = try NIfTIReader.read(channel.file)
            guard volume.header.spatialShape == reference.header.spatialShape else {
                warnings.append("\(channel.file.path): image grid \(volume.header.spatialShape) differs from the reference's; picture drawn on the reference mask")
                return nil
            }
            let index = min(channel.volume ?? 0, volume.channels - 1)
            return volume.voxels.slice(axis: 0, index..<(index + 1))
        } catch {
            warnings.append("\(error); picture drawn on the reference mask")
            return nil
        }
    }
}
