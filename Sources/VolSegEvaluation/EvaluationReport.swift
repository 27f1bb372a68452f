import Foundation
import VolSegIO

/// Writes an evaluation's outputs: OUT/metrics.csv, OUT/summary.json (nnU-Net's file, or the name
/// nnU-Net's `-o` gave), OUT/summary_extra.json, OUT/report.md, OUT/pictures/CASE.png and, with lesion-wise metrics, OUT/lesions.csv. Everything is written into a hidden folder inside OUT first and renamed
/// into place at the end, so an error never leaves a partial set of outputs behind.
public enum EvaluationReport {
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): cannot write the evaluation: \(reason)" }
    }

    /// The files written, in the order a user reads them.
    @discardableResult
    public static func write(_ result: EvaluationResult, options: EvaluationOptions, to folder: URL,
                             summaryName: String = "summary.json") throws -> [URL] {
        let manager = FileManager.default
        let existed = manager.fileExists(atPath: folder.path)
        do {
            try manager.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw Failure(path: folder.path, reason: error.localizedDescription)
        }
        let staging = folder.appendingPathComponent(".volseg-evaluate-\(UUID().uuidString)")
        defer { try? manager.removeItem(at: staging) }
        var written = [URL]()
        do {
            try manager.createDirectory(at: staging.appendingPathComponent("pictures"), withIntermediateDirectories: true)
            let hasPictures = result.cases.contains { $0.picture != nil }
            var files: [(String, String)] = [
                ("metrics.csv", EvaluationReportJSON.csv(result)),
                (summaryName, EvaluationReportJSON.summary(result)),
                ("summary_extra.json", EvaluationReportJSON.summaryExtra(result, surface: options.surface, ignoreLabel: options.ignoreLabel)),
                ("report.md", markdown(result, options: options, pictures: hasPictures)),
            ]
            if result.lesionWise != nil { files.insert(("lesions.csv", EvaluationReportJSON.lesionCSV(result)), at: 1) }
            for (name, text) in files {
                try Data(text.utf8).write(to: staging.appendingPathComponent(name))
            }
            for evaluation in result.cases {
                guard let picture = evaluation.picture else { continue }
                try Data(picture).write(to: staging.appendingPathComponent("pictures/\(pictureName(evaluation.pair.caseID))"))
            }
            // The set is complete only while its manifest exists: the old manifest goes first, the
            // new one is written last, so a kill between the renames below leaves no manifest and
            // never a mix of two evaluations that claims to be one.
            let manifest = folder.appendingPathComponent(manifestName)
            if manager.fileExists(atPath: manifest.path) { try manager.removeItem(at: manifest) }
            for (name, _) in files {
                try move(staging.appendingPathComponent(name), to: folder.appendingPathComponent(name))
                written.append(folder.appendingPathComponent(name))
            }
            if hasPictures {
                let pictures = folder.appendingPathComponent("pictures")
                if manager.fileExists(atPath: pictures.path) {
                    try move(pictures, to: staging.appendingPathComponent("previous-pictures"))
                }
                try move(staging.appendingPathComponent("pictures"), to: pictures)
                written.append(pictures)
            }
            let entries = files.map { name, text -> PythonJSON in
                .object(["file": .string(name), "bytes": .integer(text.utf8.count)])
            }
            let pictureCount = result.cases.filter { $0.picture != nil }.count
            let manifestText = PythonJSON.object([
                "files": .array(entries),
                "pictures": .integer(pictureCount),
                "cases": .integer(result.cases.count),
                "written": .string(ISO8601DateFormatter().string(from: Date())),
            ]).text() + "\n"
            try Data(manifestText.utf8).write(to: staging.appendingPathComponent(manifestName))
            try move(staging.appendingPathComponent(manifestName), to: manifest)
            written.append(manifest)
        } catch let failure as Failure {
            if !existed { try? manager.removeItem(at: folder) }
            throw failure
        } catch {
            if !existed { try? manager.removeItem(at: folder) }
            throw Failure(path: folder.path, reason: error.localizedDescription)
        }
        return written
    }

    /// Written last, listing the files of the set with their sizes: present only when the whole
    /// set in the folder comes from one evaluation.
    public static let manifestName = "evaluation_manifest.json"

    /// POSIX rename: replaces a file atomically (Foundation's moveItem refuses an existing target).
    static func move(_ source: URL, to target: URL) throws {
        if rename(source.path, target.path) != 0 {
            throw Failure(path: target.path, reason: String(cString: strerror(errno)))
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
