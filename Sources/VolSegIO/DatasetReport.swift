import Foundation
import VolSegCore

/// What `volseg info DIR` reports: the layout, its cases and modalities, the label convention and
/// every problem found. Problems come from listing (missing modality, malformed dataset.json) and
/// from reading each case's headers (never its voxels): unreadable files and grids that disagree
/// between a case's channels or with its label.
public struct DatasetReport: Sendable {
    public let layoutName: String
    public let cases: [DatasetCase]
    public let modalities: [String]
    public let labelConvention: LabelConvention
    public let problems: [DatasetProblem]

    public static func inspect(_ folder: URL) throws -> DatasetReport {
        let layout = try DatasetDetector.detect(folder)
        let (cases, listingProblems) = layout.scan()
        var perCase = [[DatasetProblem]](repeating: [], count: cases.count)
        let lock = NSLock()
        Parallel.forEach(cases.count) { i in
            let found = checkHeaders(cases[i])
            lock.lock(); perCase[i] = found; lock.unlock()
        }
        var problems = listingProblems + perCase.flatMap { $0 }
        if cases.isEmpty && listingProblems.isEmpty {
            problems.append(DatasetProblem(caseID: nil, file: folder.path, problem: "no cases found"))
        }
        return DatasetReport(layoutName: layout.layoutName, cases: cases, modalities: layout.modalities,
                             labelConvention: layout.labelConvention, problems: problems)
    }

    /// Reads the headers of a case's files: each must parse, channels must share one grid, a 4D
    /// file must hold the channel asked for, and the label must be 3D on the same grid.
    static func checkHeaders(_ item: DatasetCase) -> [DatasetProblem] {
        var problems = [DatasetProblem](), headers = [URL: NIfTIHeader]()
        for url in item.files {
            do { headers[url] = try NIfTIReader.readHeader(url) } catch {
                problems.append(DatasetProblem(caseID: item.id, file: url.path, problem: "unreadable: \(error)"))
            }
        }
        guard let first = item.channels.first, let reference = headers[first.file] else { return problems }
        for channel in item.channels {
            guard let header = headers[channel.file] else { continue }
            if header.spatialShape != reference.spatialShape {
                problems.append(DatasetProblem(caseID: item.id, file: channel.file.path, problem:
                    "shape \(header.spatialShape) of \(channel.modality) differs from \(reference.spatialShape) of \(first.file.lastPathComponent)"))
            }
            if let volume = channel.volume, volume >= header.volumeCount {
                problems.append(DatasetProblem(caseID: item.id, file: channel.file.path, problem:
                    "has \(header.volumeCount) volumes, channel \(channel.modality) needs volume \(volume + 1)"))
            }
        }
        if let label = item.labelFile, let header = headers[label] {
            if header.spatialShape != reference.spatialShape {
                problems.append(DatasetProblem(caseID: item.id, file: label.path, problem:
                    "label shape \(header.spatialShape) differs from image shape \(reference.spatialShape) of \(first.file.lastPathComponent)"))
            } else if header.volumeCount != 1 {
                problems.append(DatasetProblem(caseID: item.id, file: label.path, problem:
                    "label file holds \(header.volumeCount) volumes, expected one"))
            }
        }
        return problems
    }

    public var json: String {
        let problemObjects = problems.map { p in
            "{\"case\": \(p.caseID.map { JSONText.string($0) } ?? "null"), \"file\": \(JSONText.string(p.file)), "
                + "\"problem\": \(JSONText.string(p.problem))}"
        }
        return "{\"layout\": \(JSONText.string(layoutName)), \"cases\": \(cases.count), "
            + "\"modalities\": [\(modalities.map { JSONText.string($0) }.joined(separator: ", "))], "
            + "\"label_convention\": \(JSONText.string(labelConvention.name)), "
            + "\"problems\": [\(problemObjects.joined(separator: ", "))]}"
    }

    public var text: String {
        let labelled = cases.filter { $0.labelFile != nil }.count
        var lines = [
            "layout \(layoutName): \(cases.count) cases (\(labelled) with labels)",
            "  modalities (channel order): \(modalities.joined(separator: ", "))",
            "  label convention \(labelConvention.name): "
                + labelConvention.labels.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
        ]
        if !labelConvention.regions.isEmpty {
            lines.append("  regions: " + labelConvention.regions.map { "\($0.name) = \($0.labels.sorted())" }.joined(separator: ", "))
        }
        lines.append(problems.isEmpty ? "  no problems found" : "  \(problems.count) problems:")
        lines += problems.map { "    \($0)" }
        return lines.joined(separator: "\n")
    }
}
