import Foundation
import VolSegCore
import VolSegIO

/// One part of a sharded evaluation (`volseg evaluate ... --num-parts N --part-id K`, or one MPI
/// rank): the scores of its cases and the command that made them, so that `volseg evaluate --merge`
/// rebuilds the whole evaluation from the parts alone. The merge parses the recorded command again
/// and evaluates as it would, every case's scores taken from its part instead of its volumes: the
/// reports are then those of an unsharded run, to the last digit (values are stored exactly;
/// NaN and infinities by name).
public struct EvaluationPart: Codable, Equatable {
    public static let format = 1

    public struct ScoredCase: Codable, Equatable {
        public let spacingXYZ: [Double]
        public let scores: [MetricScores]
        public let lesionWise: [BraTSRegionScores]?
        public let labelValues: [Int]
        public let referenceValues: [Int]
        /// The case's picture (PNG), when pictures are on.
        public let picture: Data?
    }

    public var format = Self.format
    /// The evaluate command's arguments without the part flags, and the folder they are relative to.
    public let arguments: [String]
    public let directory: String
    public let count: Int
    public let index: Int
    public let cases: [String: ScoredCase]

    public init(arguments: [String], directory: String, part: WorkPart, result: EvaluationResult) {
        self.arguments = arguments
        self.directory = directory
        count = part.count
        index = part.index
        var cases = [String: ScoredCase]()
        for item in result.cases {
            cases[item.pair.caseID] = ScoredCase(spacingXYZ: item.spacingXYZ, scores: item.scores, lesionWise: item.lesionWise,
                                                 labelValues: item.labelValues.sorted(), referenceValues: item.referenceValues.sorted(),
                                                 picture: item.picture.map { Data($0) })
        }
        self.cases = cases
    }

    /// `evaluation_part_K_of_N.json`: the parts of one evaluation can share its output folder.
    public var fileName: String { Self.fileName(index: index, count: count) }

    public static func fileName(index: Int, count: Int) -> String { "evaluation_part_\(index)_of_\(count).json" }

    private static let nonFinite = (positive: "inf", negative: "-inf", nan: "nan")

    public func write(into folder: URL) throws -> URL {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: Self.nonFinite.positive,
                                                                      negativeInfinity: Self.nonFinite.negative, nan: Self.nonFinite.nan)
        let url = folder.appendingPathComponent(fileName)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try AtomicFile.write(try encoder.encode(self), to: url)
        return url
    }

    public static func read(_ url: URL) throws -> EvaluationPart {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: nonFinite.positive,
                                                                        negativeInfinity: nonFinite.negative, nan: nonFinite.nan)
        let part: EvaluationPart
        do {
            part = try decoder.decode(EvaluationPart.self, from: try Data(contentsOf: url))
        } catch {
            throw EvaluationError.unreadablePart(path: url.path, reason: "\(error)")
        }
        guard part.format == format else {
            throw EvaluationError.unreadablePart(path: url.path, reason: "format \(part.format), this VolSeg reads \(format)")
        }
        return part
    }

    /// The parts in `paths` (part files, or folders holding them), checked to be all the parts of
    /// one evaluation, each once.
    public static func collect(_ paths: [URL]) throws -> [EvaluationPart] {
        var files: [URL] = []
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isFolder) else {
                throw EvaluationError.unreadablePart(path: path.path, reason: "no such file or folder")
            }
            if isFolder.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: path.path)
                    .filter { $0.hasPrefix("evaluation_part_") && $0.hasSuffix(".json") }.sorted()
                if names.isEmpty { throw EvaluationError.unreadablePart(path: path.path, reason: "the folder holds no evaluation_part_K_of_N.json") }
                files += names.map { path.appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        let parts = try files.map(read)
        let first = parts[0]
        for (part, file) in zip(parts, files) {
            if part.arguments != first.arguments || part.directory != first.directory {
                throw EvaluationError.partsDisagree(reason: "\(file.lastPathComponent) was made by `volseg \(part.arguments.joined(separator: " "))` "
                    + "in \(part.directory), \(files[0].lastPathComponent) by `volseg \(first.arguments.joined(separator: " "))` in \(first.directory)")
            }
            if part.count != first.count {
                throw EvaluationError.partsDisagree(reason: "\(file.lastPathComponent) is one of \(part.count) parts, \(files[0].lastPathComponent) one of \(first.count)")
            }
        }
        let indices = parts.map(\.index)
        let missing = Set(0..<first.count).subtracting(indices).sorted()
        if !missing.isEmpty {
            throw EvaluationError.partsDisagree(reason: "part(s) \(missing.map(String.init).joined(separator: ", ")) of \(first.count) are missing")
        }
        if indices.count != Set(indices).count {
            throw EvaluationError.partsDisagree(reason: "a part is given twice (\(files.map(\.lastPathComponent).joined(separator: ", ")))")
        }
        return parts.sorted { $0.index < $1.index }
    }

    /// Every part's cases, by case id.
    public static func scoredCases(_ parts: [EvaluationPart]) -> [String: ScoredCase] {
        parts.reduce(into: [:]) { all, part in all.merge(part.cases) { first, _ in first } }
    }
}
