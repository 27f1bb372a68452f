import Foundation
import VolSegIO

/// metrics.csv and summary.json, written by hand so that key order is fixed and NaN is written as
/// `NaN`, as nnU-Net's summary.json has it (Python's json module reads it; strict JSON has no NaN).
public enum EvaluationReportJSON {
    /// A number as both files write it: integers without a decimal point, doubles in the shortest
    /// form that reads back to the same value, NaN as `NaN`.
    static func number(_ value: Double, integer: Bool = false) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        if integer, value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }

    static let integerKeys: Set<String> = ["tp", "fp", "fn", "tn", "n_pred", "n_ref"]

    static func string(_ text: String) -> String { JSONText.string(text) }

    /// `{"key": value, ...}` with the keys in the given order; keys whose value is nil are left out.
    static func object(_ entries: [(String, String?)], indent: String) -> String {
        let inner = indent + "  "
        let body = entries.compactMap { key, value in value.map { "\(inner)\(string(key)): \($0)" } }
        return body.isEmpty ? "{}" : "{\n" + body.joined(separator: ",\n") + "\n\(indent)}"
    }

    static func metrics(_ scores: MetricScores, indent: String) -> String {
        object((MetricScores.keys + MetricScores.volumeKeys).map { key in
            (key, scores.value(key).map { number($0, integer: integerKeys.contains(key)) })
        }, indent: indent)
    }

    /// summary.json, shaped like nnU-Net's: metric_per_case, mean, foreground_mean, plus global_dice.
    public static func summary(_ result: EvaluationResult) -> String {
        let perCase = result.cases.map { evaluation -> String in
            let labels = object(zip(result.labels, evaluation.scores).map { label, scores in
                (label.name, metrics(scores, indent: "        "))
            }, indent: "      ")
            return object([("case", string(evaluation.pair.caseID)),
                           ("prediction_file", string(evaluation.pair.prediction.path)),
                           ("reference_file", string(evaluation.pair.reference.path)),
                           ("spacing_xyz", "[" + evaluation.spacingXYZ.map { number($0) }.joined(separator: ", ") + "]"),
                           ("metrics", labels)], indent: "    ")
        }
        let means = result.mean, foreground = result.foregroundMean, global = result.globalDice
        func meanObject(_ values: [String: Double], indent: String) -> String {
            object(EvaluationResult.meanKeys.map { ($0, values[$0].map { number($0) }) }, indent: indent)
        }
        let mean = object(result.labels.map { ($0.name, meanObject(means[$0.name] ?? [:], indent: "    ")) }, indent: "  ")
        let labels = object(result.labels.map { label in
            (label.name, "[" + label.values.map(String.init).joined(separator: ", ") + "]")
        }, indent: "  ")
        let caseList = perCase.isEmpty ? "[]" : "[\n    " + perCase.joined(separator: ",\n    ") + "\n  ]"
        return object([
            ("metric_per_case", caseList),
            ("mean", mean),
            ("foreground_mean", meanObject(foreground, indent: "  ")),
            ("global_dice", object(result.labels.map { ($0.name, number(global[$0.name] ?? .nan)) }, indent: "  ")),
            ("labels", labels),
            ("missing_predictions", "[" + result.matching.missingPredictions.map(string).joined(separator: ", ") + "]"),
            ("extra_predictions", "[" + result.matching.extraPredictions.map(string).joined(separator: ", ") + "]"),
        ], indent: "") + "\n"
    }

    /// metrics.csv: one row per case and label, columns `case,label,dice,iou,hd95,assd,tp,fp,fn,tn,n_pred,n_ref`;
    /// an undefined distance is an empty field, an undefined Dice or IoU is NaN.
    public static func csv(_ result: EvaluationResult) -> String {
        var lines = [(["case", "label"] + MetricScores.keys).joined(separator: ",")]
        for evaluation in result.cases {
            for (label, scores) in zip(result.labels, evaluation.scores) {
                let fields = MetricScores.keys.map { key in
                    scores.value(key).map { number($0, integer: integerKeys.contains(key)) } ?? ""
                }
                lines.append(([csvField(evaluation.pair.caseID), csvField(label.name)] + fields).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
