import Foundation
import VolSegIO

/// Writes an evaluation's outputs: OUT/metrics.csv, OUT/summary.json (nnU-Net's file, or the name
/// nnU-Net's `-o` gave), OUT/summary_extra.json, OUT/report.md, OUT/pictures/CASE.png, with
/// lesion-wise metrics OUT/lesions.csv, and OUT/evaluation_manifest.json, as one set
/// (`AtomicFileSet`): the folder holds the previous set or this one, whole, whatever stops the run.
public enum EvaluationReport {
    /// The files written, in the order a user reads them (the pictures as their folder), the
    /// manifest last. A full disk or another write error is a `FileWriteError` naming the file.
    @discardableResult
    public static func write(_ result: EvaluationResult, options: EvaluationOptions, to folder: URL,
                             summaryName: String = "summary.json", page: [(path: String, data: Data)] = []) throws -> [URL] {
        let hasPictures = result.cases.contains { $0.picture != nil }
        var files: [(String, String)] = [
            ("metrics.csv", EvaluationReportJSON.csv(result)),
            (summaryName, EvaluationReportJSON.summary(result)),
            ("summary_extra.json", EvaluationReportJSON.summaryExtra(result, surface: options.surface, ignoreLabel: options.ignoreLabel)),
            ("report.md", markdown(result, options: options, pictures: hasPictures)),
        ]
        if result.lesionWise != nil { files.insert(("lesions.csv", EvaluationReportJSON.lesionCSV(result)), at: 1) }
        // The HTML report (report.html, report_files/) is made above this module (VolSegReport)
        // and joins the set here, so it is replaced with the rest or not at all.
        var contents = files.map { (path: $0.0, data: Data($0.1.utf8)) } + page
        for evaluation in result.cases {
            guard let picture = evaluation.picture else { continue }
            contents.append((path: "pictures/\(pictureName(evaluation.pair.caseID))", data: Data(picture)))
        }
        let entries = files.map { name, text -> PythonJSON in
            .object(["file": .string(name), "bytes": .integer(text.utf8.count)])
        }
        let manifest = PythonJSON.object([
            "files": .array(entries),
            "pictures": .integer(result.cases.filter { $0.picture != nil }.count),
            "cases": .integer(result.cases.count),
            "written": .string(ISO8601DateFormatter().string(from: Date())),
        ]).text() + "\n"
        removeLegacyStaging(in: folder)
        let set = AtomicFileSet(folder: folder, ownedNames: ownedNames(summaryName: summaryName), manifestName: manifestName)
        try set.write(contents, manifest: Data(manifest.utf8))
        return files.map { folder.appendingPathComponent($0.0) } + (hasPictures ? [folder.appendingPathComponent("pictures")] : [])
            + (page.isEmpty ? [] : [folder.appendingPathComponent("report.html")])
            + [folder.appendingPathComponent(manifestName)]
    }

    /// Present only when the whole set in the folder comes from one evaluation: it lists the
    /// files of the set with their sizes.
    public static let manifestName = "evaluation_manifest.json"

    /// Every name a report set may use: a new set replaces all of an old one's, so a lesions.csv or
    /// pictures/ of an earlier run never stays beside a set that has none.
    static func ownedNames(summaryName: String) -> Set<String> {
        ["metrics.csv", "lesions.csv", summaryName, "summary_extra.json", "report.md", "pictures", "report.html", "report_files", manifestName]
    }

    /// Staging folders that earlier VolSeg builds wrote (`.volseg-evaluate-<UUID>`, without a pid,
    /// so `AtomicFile.removeStaleTemporaries` cannot tell them) and left when killed; none is written now.
    static func removeLegacyStaging(in folder: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names where name.hasPrefix(".volseg-evaluate-") && UUID(uuidString: String(name.dropFirst(17))) != nil {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }

    /// A case id as a file name (ids are file stems, but keep a slash from making a folder).
    public static func pictureName(_ caseID: String) -> String {
        caseID.replacingOccurrences(of: "/", with: "_") + ".png"
    }

    static func format(_ value: Double?, digits: Int = 4) -> String {
        guard let value else { return "–" }
        if value.isNaN { return "NaN" }
        return String(format: "%.\(digits)f", value)
    }

    /// report.md: the dataset table, the per-case table and the pictures.
    public static func markdown(_ result: EvaluationResult, options: EvaluationOptions, pictures: Bool) -> String {
        var lines = ["# Evaluation", ""]
        lines.append("- predictions: `\(options.predictions.path)`")
        lines.append("- references: `\(options.references.path)`"
            + (result.matching.layoutName.map { " (dataset layout \($0))" } ?? ""))
        lines.append("- labels: " + result.labels.map { "\($0.name) = {\($0.values.map(String.init).joined(separator: ", "))}" }.joined(separator: "; "))
        lines.append("- cases evaluated: \(result.cases.count)")
        for (metric, text) in options.surface.descriptions.sorted(by: { $0.key < $1.key }) { lines.append("- \(metric): \(text)") }
        if let ignore = options.ignoreLabel { lines.append("- ignore label: \(ignore) (its reference voxels count nowhere)") }
        for missing in result.matching.missingPredictions { lines.append("- no prediction: \(missing)") }
        for extra in result.matching.extraPredictions { lines.append("- no reference: \(extra)") }
        for warning in result.warnings { lines.append("- warning: \(warning)") }
        lines += ["", "## Dataset", "",
                  "| label | Dice | IoU | HD95 (mm) | ASSD (mm) | NSD | global Dice |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        let means = result.mean, foreground = result.foregroundMean, global = result.globalDice
        for label in result.labels {
            let m = means[label.name] ?? [:]
            lines.append("| \(label.name) | \(format(m["dice"])) | \(format(m["iou"])) | \(format(m["hd95"], digits: 2)) | "
                + "\(format(m["assd"], digits: 2)) | \(format(m["nsd"])) | \(format(global[label.name])) |")
        }
        lines.append("| **foreground mean** | \(format(foreground["dice"])) | \(format(foreground["iou"])) | "
            + "\(format(foreground["hd95"], digits: 2)) | \(format(foreground["assd"], digits: 2)) | \(format(foreground["nsd"])) | |")
        lines += ["", "Means leave out undefined values: Dice and IoU of a label empty in both prediction and "
            + "reference (NaN), distances when one side is empty (–). The foreground mean is nnU-Net's plain mean of the "
            + "label means (NaN when one is). Global Dice is 2 Σ|P∩R| / Σ(|P| + |R|) over all cases.",
                  "", "## Cases", "",
                  "| case | label | Dice | IoU | HD95 (mm) | ASSD (mm) | TP | FP | FN | prediction (mm³) | reference (mm³) |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for evaluation in result.cases {
            for (label, s) in zip(result.labels, evaluation.scores) {
                lines.append("| \(evaluation.pair.caseID) | \(label.name) | \(format(s.dice)) | \(format(s.iou)) | "
                    + "\(format(s.hd95, digits: 2)) | \(format(s.assd, digits: 2)) | \(s.tp) | \(s.fp) | \(s.fn) | "
                    + "\(format(s.predictionVolumeMM3, digits: 1)) | \(format(s.referenceVolumeMM3, digits: 1)) |")
            }
        }
        if pictures {
            lines += ["", "## Pictures", "",
                      "Axial, coronal and sagittal slices where prediction and reference disagree most (the slices with "
                      + "the most differing voxels; the reference's largest slices when they agree), at the voxel spacing's "
                      + "aspect ratio, in voxel order with higher y and z drawn higher. Reference outlined in green, "
                      + "prediction in red, yellow where they coincide; the case and its Dice per label on top."]
            for evaluation in result.cases where evaluation.picture != nil {
                let name = pictureName(evaluation.pair.caseID)
                lines += ["", "### \(evaluation.pair.caseID)", "", "![\(evaluation.pair.caseID)](pictures/\(name))"]
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
