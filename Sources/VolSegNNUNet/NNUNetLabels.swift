import Foundation
import VolSegInference
import Yams

/// What the network's output channels mean, read from a model folder's `dataset.json` as nnU-Net's
/// LabelManager reads it: without regions, one softmax channel per label value 0 ... N-1; with
/// regions (some label maps to a list of values), one sigmoid channel per foreground entry in the
/// order the file lists them, painted in `regions_class_order`.
///
/// The order of the `labels` object matters for regions and JSONSerialization does not keep it,
/// so the key order is taken from Yams's composition of the same text (JSON is YAML).
public struct NNUNetLabels: Equatable, Sendable {
    public var output: SegmentationOutput
    public var channelNames: [String: Int]
    public var fileEnding: String
    public var inputChannelCount: Int
    /// The name dataset.json gives each label value the map holds (a region's name for the
    /// value it paints), for DICOM Segmentation segment labels.
    public var labelNames: [Int: String] = [:]

    public static func read(_ url: URL) throws -> NNUNetLabels {
        let json = try NNUNetJSON.read(url, what: "nnU-Net's dataset.json")
        let labels = try json.child("labels")
        let order = try keyOrder(of: "labels", in: url)
        guard (labels.object["background"] as? NSNumber)?.intValue == 0 else {
            throw labels.fail("background", "must be 0, as nnU-Net requires")
        }
        let ignore = labels.object["ignore"].flatMap { ($0 as? NSNumber)?.intValue }
        var entries: [(name: String, values: [Int], isList: Bool)] = []
        for name in order where name != "ignore" {
            let raw = labels.object[name]
            if let values = raw as? [Any] {
                entries.append((name, try values.map { try NNUNetJSON.integer($0, labels.fail(name, "not a list of integers")) }, true))
            } else {
                entries.append((name, [try labels.int(name)], false))
            }
        }
        let regionBased = entries.contains { $0.isList && Set($0.values).count > 1 }
        let output: SegmentationOutput
        var labelNames: [Int: String] = [:]
        if regionBased {
            let regions = entries.filter { !$0.values.allSatisfy { $0 == 0 } }
            let paint = try json.ints("regions_class_order")
            guard paint.count == regions.count else {
                throw json.fail("regions_class_order", "has \(paint.count) entries for \(regions.count) regions")
            }
            output = .regions(zip(regions, paint).map { SegmentationRegion(name: $0.name, labels: $0.values, paint: $1) })
            for (region, value) in zip(regions, paint) { labelNames[value] = region.name }
        } else {
            let values = Set(entries.flatMap(\.values)).subtracting(ignore.map { [$0] } ?? []).sorted()
            guard values == Array(0..<values.count) else {
                throw labels.fail("labels", "values \(values) must be consecutive from 0, as nnU-Net requires")
            }
            output = .labels(values)
            for entry in entries where entry.values.count == 1 { labelNames[entry.values[0]] = entry.name }
        }
        let channels = try json.child(json.has("channel_names") ? "channel_names" : "modality")
        var names: [String: Int] = [:]
        for (key, value) in channels.object {
            guard let index = Int(key) else { throw channels.fail(key, "is not a channel number") }
            names[(value as? String) ?? key] = index
        }
        return NNUNetLabels(output: output, channelNames: names,
                            fileEnding: (try? json.string("file_ending")) ?? ".nii.gz", inputChannelCount: channels.object.count,
                            labelNames: labelNames)
    }

    /// The keys of the top-level object `key`, in file order.
    static func keyOrder(of key: String, in url: URL) throws -> [String] {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        guard let root = try? Yams.compose(yaml: text), let table = root.mapping?[key]?.mapping else {
            throw NNUNetError.unreadableJSON(path: url.path, reason: "the \"\(key)\" object could not be read in order")
        }
        return table.keys.compactMap(\.string)
    }
}
