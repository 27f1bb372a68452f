import Foundation

/// What `nnUNetv2_evaluate_folder -djfile dataset.json` evaluates, read as nnU-Net's LabelManager
/// reads the `labels` table: a dataset is region-based when some label maps to a list of more than
/// one value; then every entry but `background` and `ignore` is a region (a list becomes a tuple
/// key `"(1, 2, 3)"`, a single value stays a label key `"3"`, as in nnU-Net's `_get_regions`);
/// otherwise the foreground labels are the values other than 0 and the ignore label. `ignore` is
/// the ignore label. The plans file is not needed for this (nnU-Net reads it only to build the
/// label manager class) and is only checked to be readable JSON.
public struct NNUNetDatasetLabels: Equatable, Sendable {
    public var labels: [EvaluationLabel]
    public var ignoreLabel: Int?
    /// `file_ending` (".nii.gz").
    public var fileEnding: String?

    public static func read(datasetJSON: URL, plans: URL?) throws -> NNUNetDatasetLabels {
        let path = datasetJSON.path
        func fail(_ reason: String) -> EvaluationError { .unreadableDatasetJSON(path: path, reason: reason) }
        if let plans {
            guard let data = FileManager.default.contents(atPath: plans.path),
                  (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
                throw EvaluationError.unreadableDatasetJSON(path: plans.path, reason: "is missing or not a JSON object (nnU-Net's plans.json)")
            }
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw fail("no such file (nnU-Net's dataset.json)") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("is not a JSON object")
        }
        guard let table = object["labels"] as? [String: Any], !table.isEmpty else {
            throw fail("has no \"labels\" object of name -> value")
        }
        guard let background = table["background"] as? NSNumber, background.intValue == 0 else {
            throw fail("\"labels\" must declare \"background\": 0, as nnU-Net requires")
        }
        var ignore: Int?
        if let raw = table["ignore"] {
            guard let value = raw as? NSNumber, Double(value.intValue) == value.doubleValue else {
                throw fail("\"labels\".\"ignore\" must be one integer, got \(raw)")
            }
            ignore = value.intValue
        }
        var entries = [(name: String, values: [Int], isList: Bool)]()
        for (name, raw) in table where name != "background" && name != "ignore" {
            if let value = raw as? NSNumber, Double(value.intValue) == value.doubleValue {
                entries.append((name, [value.intValue], false))
            } else if let list = raw as? [NSNumber], !list.isEmpty, list.allSatisfy({ Double($0.intValue) == $0.doubleValue }) {
                entries.append((name, list.map(\.intValue), true))
            } else {
                throw fail("\"labels\".\"\(name)\" must be a label value or a list of values, got \(raw)")
            }
        }
        let regionBased = entries.contains { $0.isList && Set($0.values).count > 1 }
        var labels: [EvaluationLabel]
        if regionBased {
            labels = entries.filter { !$0.values.allSatisfy { $0 == 0 } }
                .map { EvaluationLabel(name: $0.name, values: $0.values, isRegion: $0.isList) }
        } else {
            var named = [Int: String]()
            for entry in entries { for value in entry.values where value != 0 && value != ignore { named[value] = named[value] ?? entry.name } }
            labels = named.keys.sorted().map { EvaluationLabel(name: named[$0]!, values: [$0]) }
        }
        labels.sort { ($0.values.first ?? 0, $0.values.count) < ($1.values.first ?? 0, $1.values.count) }
        guard !labels.isEmpty else { throw fail("\"labels\" has no foreground label") }
        return NNUNetDatasetLabels(labels: labels, ignoreLabel: ignore, fileEnding: object["file_ending"] as? String)
    }
}
