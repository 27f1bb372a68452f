import Foundation
import VolSegCore
import VolSegIO

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

    public init(predictions: URL, references: URL, labelArguments: [String] = [], regions: EvaluationLabel.Regions? = nil,
                allowMissing: Bool = false, pictures: Bool = true) {
        self.predictions = predictions
        self.references = references
        self.labelArguments = labelArguments
        self.regions = regions
        self.allowMissing = allowMissing
        self.pictures = pictures
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
}

/// Scores every matched case. Everything that can be checked without the voxels (folders, case
/// matching, label arguments, grids) is checked before the first volume is read, so that a bad
/// input fails fast; nothing is written here (see `EvaluationReport`).
public enum Evaluation {
    /// `progress(done, total, case)` is called after each case.
    public static func run(_ options: EvaluationOptions,
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
        if let convention = matching.convention, !labels.isEmpty {
            let unknown = Set(labels.flatMap(\.values)).subtracting(convention.labels.keys).sorted()
            if !unknown.isEmpty {
                throw EvaluationError.labelValuesNotInDataset(
                    values: unknown, labels: labels.filter { !Set($0.values).isDisjoint(with: unknown) }.map(\.description),
                    convention: "\(convention.name): " + convention.labels.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
        for pair in matching.pairs { try checkGrids(pair) }

        var warnings = [String]()
        if labels.isEmpty {
            // Every foreground value of the references, each its own label: read them all first.
            var found = Set<Int>()
            for pair in matching.pairs { found.formUnion(try labelValues(try NIfTIReader.read(pair.reference))) }
            labels = EvaluationLabel.found(found)
            if labels.isEmpty { throw EvaluationError.noLabels(references: options.references.path) }
        }

        var cases = [CaseEvaluation](), seen = Set<Int>()
        for (index, pair) in matching.pairs.enumerated() {
            let reference = try NIfTIReader.read(pair.reference)
            let prediction = try NIfTIReader.read(pair.prediction)
            seen.formUnion(try labelValues(reference))
            seen.formUnion(try labelValues(prediction))
            let spacing = reference.header.spacing
            let shape = reference.spatialShape
            let scores = labels.map { label -> MetricScores in
                let values = Set(label.values)
                return MetricScores.compute(prediction: EvaluationMask(labels: prediction.voxels.data, shape: shape, values: values),
                                            reference: EvaluationMask(labels: reference.voxels.data, shape: shape, values: values),
                                            spacingXYZ: spacing)
            }
            var picture: [UInt8]?
            if options.pictures {
                let image = loadImage(pair, grid: reference, warnings: &warnings)
                let rendered = EvaluationReportPicture.render(reference: reference.voxels, prediction: prediction.voxels,
                                                              image: image, spacingXYZ: spacing)
                picture = try PNGWriter.encodeRGB(width: rendered.width, height: rendered.height, pixels: rendered.pixels)
            }
            let result = CaseEvaluation(pair: pair, spacingXYZ: spacing, scores: scores, picture: picture)
            cases.append(result)
            progress?(index + 1, matching.pairs.count, result)
        }

        let never = Set(explicit.flatMap(\.values)).subtracting(seen).sorted()
        if !never.isEmpty {
            throw EvaluationError.labelValuesNeverSeen(values: never, labels: explicit.filter { !Set($0.values).isDisjoint(with: never) }.map(\.description))
        }
        if let regions = options.regions {
            let absent = Set(regions.labels.flatMap(\.values)).subtracting(seen).sorted()
            if !absent.isEmpty {
                warnings.append("--regions \(regions.rawValue): label value(s) \(absent.map(String.init).joined(separator: ", ")) "
                    + "occur in no reference and no prediction (is this the right release's convention?)")
            }
        }
        return EvaluationResult(labels: labels, cases: cases, matching: matching, warnings: warnings)
    }

    /// A prediction must lie on its reference's grid, and both must be single 3D volumes.
    static func checkGrids(_ pair: EvaluationPair) throws {
        let reference = try NIfTIReader.readHeader(pair.reference)
        let prediction = try NIfTIReader.readHeader(pair.prediction)
        for (header, url) in [(reference, pair.reference), (prediction, pair.prediction)] where header.volumeCount != 1 {
            throw EvaluationError.notALabelMap(path: url.path, reason: "it holds \(header.volumeCount) volumes (dims \(header.dims))")
        }
        if prediction.spatialShape != reference.spatialShape {
            throw EvaluationError.shapeMismatch(prediction: pair.prediction.path, predictionShape: prediction.spatialShape,
                                                reference: pair.reference.path, referenceShape: reference.spatialShape)
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
