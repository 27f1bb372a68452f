import Foundation
import VolSegCore
import VolSegEvaluation
import VolSegIO

/// `OUT/report.html` of an evaluation: the case table (every metric per label, sortable,
/// filterable by label, the dataset means, global Dice and the conventions above it) and the viewer
/// for the worst `maximumCases` cases (lowest mean Dice over the labels first), each case's volumes
/// in `report_files/case-NNNN.js`, loaded when the case is opened, so the page opens at once
/// whatever the number of cases.
public enum EvaluationReportPage {
    public static let defaultMaximumCases = 100

    /// The page and its case files, as (path in OUT, contents) for the report set.
    public static func files(_ result: EvaluationResult, options: EvaluationOptions, maximumCases: Int = defaultMaximumCases,
                             title: String? = nil) throws -> [(path: String, data: Data)] {
        let shown = Set(worstFirst(result).prefix(max(0, maximumCases)).map(\.pair.caseID))
        let channels = caseChannels(options.references)
        let segmentLabels = EvaluationPrediction.labelValuesByName(convention: result.matching.convention, labels: result.labels)
        // The shown cases' files, one case per core at a time (each reads its volumes again).
        let cases = result.cases
        var built = [Result<Data, Error>?](repeating: nil, count: cases.count)
        built.withUnsafeMutableBufferPointer { slots in
            let slots = slots
            Parallel.forEach(cases.count) { n in
                let pair = cases[n].pair
                guard shown.contains(pair.caseID) else { return }
                slots[n] = Result {
                    let payload = try casePayload(pair, channels: channels[pair.caseID], segmentLabels: segmentLabels)
                    return Data(("volsegRegisterCase(" + ReportPage.json(payload) + ");\n").utf8)
                }
            }
        }
        var files: [(path: String, data: Data)] = [], rows: [[String: Any]] = []
        for (n, evaluation) in cases.enumerated() {
            var row: [String: Any] = ["id": evaluation.pair.caseID, "scores": evaluation.scores.map(scoreObject), "viewer": NSNull()]
            if let file = try built[n]?.get() {
                let path = String(format: "report_files/case-%04d.js", n + 1)
                files.append((path, file))
                row["viewer"] = path
            }
            rows.append(row)
        }
        let means = result.mean, global = result.globalDice
        // The legend's names: the dataset's (LiTS: liver, tumour), else the evaluated label's own.
        var names: [String: String] = [:]
        for (value, name) in result.matching.convention?.labels ?? [:] where value != 0 { names[String(value)] = name }
        for label in result.labels where label.values.count == 1 && !label.isRegion && names[String(label.values[0])] == nil {
            names[String(label.values[0])] = label.name
        }
        let data: [String: Any] = [
            "title": title ?? "VolSeg evaluation: \(result.cases.count) case(s), \(options.predictions.lastPathComponent) against \(options.references.lastPathComponent)",
            "table": true,
            "conventions": "Conventions: " + options.surface.descriptions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "; ")
                + ". A metric a case does not define (Dice of a label empty in both, distances to an empty side) is shown as undefined and left out of the means.",
            "labels": result.labels.map { ["name": $0.name, "values": $0.values] as [String: Any] },
            "labelNames": names,
            "means": result.labels.map { label in Dictionary(uniqueKeysWithValues: ["dice", "iou", "hd95", "assd", "nsd"].map { ($0, means[label.name]?[$0] ?? .nan) }) },
            "globalDice": result.labels.map { global[$0.name] ?? .nan },
            "omitted": result.cases.count - shown.count,
            "cases": rows,
        ]
        return [("report.html", Data(ReportPage.html(title: data["title"] as! String, data: ReportPage.json(data)).utf8))] + files
    }

    /// The cases by mean Dice over the labels that define it, lowest first; a case no label
    /// defines a Dice for comes last.
    static func worstFirst(_ result: EvaluationResult) -> [CaseEvaluation] {
        func meanDice(_ evaluation: CaseEvaluation) -> Double {
            let defined = evaluation.scores.map(\.dice).filter { !$0.isNaN }
            return defined.isEmpty ? .infinity : defined.reduce(0, +) / Double(defined.count)
        }
        return result.cases.enumerated().sorted { (meanDice($0.element), $0.offset) < (meanDice($1.element), $1.offset) }.map(\.element)
    }

    static func scoreObject(_ scores: MetricScores) -> [String: Any] {
        ["dice": scores.dice, "iou": scores.iou, "hd95": scores.hd95 ?? .nan, "assd": scores.assd ?? .nan, "nsd": scores.nsd ?? .nan,
         "n_ref": scores.nRef, "n_pred": scores.nPred]
    }

    /// Every image channel of each case of the reference folder's layout (BraTS: four files; MSD: the
    /// volumes of one 4D file), for the viewer's modality choice.
    static func caseChannels(_ references: URL) -> [String: [DatasetChannel]] {
        guard let layout = try? DatasetDetector.detect(references) else { return [:] }
        return Dictionary(layout.scan().cases.map { ($0.id, $0.channels) }, uniquingKeysWith: { a, _ in a })
    }

    static func casePayload(_ pair: EvaluationPair, channels: [DatasetChannel]?, segmentLabels: [String: Int]) throws -> [String: Any] {
        let reference = try NIfTIReader.read(pair.reference)
        let prediction = try EvaluationPrediction.read(pair.prediction, reference: reference, labelValues: segmentLabels)
        // The image is shown when every channel reads and lies on the reference's grid; the
        // evaluation never needed it, so a channel that does not shows the labels alone.
        let images = channels ?? pair.image.map { [$0] } ?? []
        var stacked: Tensor?
        var names: [String] = []
        let size = reference.voxels.count
        for (c, channel) in images.enumerated() {
            guard let volume = try? NIfTIReader.read(channel.file), volume.header.spatialShape == reference.header.spatialShape,
                  (channel.volume ?? 0) < volume.channels else { break }
            if stacked == nil { stacked = Tensor.empty([images.count] + reference.spatialShape) }
            let source = volume.voxels.data + (channel.volume ?? 0) * size
            (stacked!.data + c * size).update(from: source, count: size)
            names.append(channel.modality)
        }
        let isCT = ViewerVolume.isCT(channelNames: names)
        // Several channels share one case's byte budget: the grid shrinks by the cube root of
        // their number (a 4-channel BraTS case: at most 71 voxels along an axis).
        let maximumSize = Int((Double(ViewerVolume.defaultMaximumSize) / cbrt(Double(max(1, names.count)))).rounded())
        let viewer = try ViewerVolume(header: reference.header, image: names.count == images.count ? stacked : nil,
                                      channelNames: names, isCT: isCT,
                                      layers: [("reference", reference), ("prediction", prediction)], maximumSize: maximumSize)
        return try viewer.payload(id: pair.caseID)
    }
}
