import Foundation
import VolSegCore
import VolSegIO

/// What segmenting a dataset did, case by case.
public struct DatasetSegmentationReport: Sendable {
    /// Case ids whose label map was written.
    public var written: [String] = []
    /// Case ids skipped because their output existed (`--continue`).
    public var skipped: [String] = []
    /// Cases that failed (unreadable input, ...) or could not be listed (a missing modality), with the reason.
    public var failed: [(id: String, reason: String)] = []

    public init() {}
}

extension Segmenter {
    /// Where a case's label map goes: `folder/<case id>.nii.gz`, nnU-Net's naming.
    public static func outputURL(for caseID: String, in folder: URL) -> URL {
        folder.appendingPathComponent(caseID + ".nii.gz")
    }

    /// Segments every case of a detected dataset layout into `folder` (created if needed), one
    /// case at a time. A case that fails is reported and the others go on; each written file is
    /// whole (written to a temporary name and renamed). The model's labels are renamed to the
    /// dataset's convention where the meanings match (`adopt`).
    ///
    /// - Parameters:
    ///   - skipExisting: leave cases whose output exists and is whole alone (resume an interrupted run).
    ///   - log: one line per event (warnings, cases done).
    ///   - progress: (case number from 1, case count, case id, windows done, windows total).
    public func segmentDataset(_ layout: any DatasetLayout, into folder: URL, skipExisting: Bool = false, part: WorkPart = .whole,
                               log: (String) -> Void = { _ in },
                               progress: ((Int, Int, String, Int, Int) -> Void)? = nil) throws -> DatasetSegmentationReport {
        let modalities = bundle.config.modalities
        guard layout.modalities.count == modalities.count else {
            throw SegmentationInputError.datasetModalities(folder: layout.folder.path, layout: layout.layoutName,
                                                           datasetModalities: layout.modalities, modalities: modalities)
        }
        if layout.modalities.map({ $0.lowercased() }) != modalities.map({ $0.lowercased() }) {
            log("warning: the dataset's modalities \(layout.modalities) are fed as the model's \(modalities), in that order")
        }
        let renaming = adopt(layout.labelConvention)
        if !renaming.isEmpty {
            let pairs = renaming.sorted { $0.key < $1.key }.map { "\($0.key) -> \($0.value)" }.joined(separator: ", ")
            log("labels written in the \(layout.labelConvention.name) convention: \(pairs)")
        }
        try OutputCheck.refuseFolder(folder, sameAs: layout.folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        AtomicFile.removeStaleTemporaries(in: folder)
        let (allCases, problems) = layout.scan()
        // A part takes every count-th case of the list sorted by id; the checks below still see
        // every case, so each part refuses what the whole run would.
        let cases = part.select(allCases.sorted { $0.id < $1.id })
        // Before any case is segmented: no output may be any case's input.
        let inputs = allCases.flatMap(\.files)
        for item in cases { try OutputCheck.refuseOverwriting(inputs, with: Segmenter.outputURL(for: item.id, in: folder)) }
        var report = DatasetSegmentationReport()
        let listed = Set(allCases.map(\.id))
        for problem in problems where part.index == 0 {
            log("warning: \(problem)")
            if let id = problem.caseID, !listed.contains(id) { report.failed.append((id, problem.description)) }
        }
        for (n, item) in cases.enumerated() {
            let url = Segmenter.outputURL(for: item.id, in: folder)
            if skipExisting && FileManager.default.fileExists(atPath: url.path) {
                // Only a whole file counts as done: one cut short (a full disk under an older
                // writer, another tool) would otherwise be skipped for good.
                if NIfTIWholeFile.isWhole(url) {
                    report.skipped.append(item.id)
                    log("\(item.id): \(url.lastPathComponent) exists, skipped")
                    continue
                }
                log("warning: \(item.id): \(url.lastPathComponent) exists but is not whole; segmenting it again")
            }
            do {
                FaultPoint.reached("segment.loading")
                let image = try item.loadImage()
                let result = try segment(image) { done, total in progress?(n + 1, cases.count, item.id, done, total) }
                if result.replacedNonFinite > 0 {
                    log("warning: \(item.id): \(result.replacedNonFinite) NaN or infinite voxels were read as 0")
                }
                for warning in image.warnings { log("\(warning)") }
                try NIfTIWriter.writeLabelMap(result.labels, like: image.header, to: url)
                report.written.append(item.id)
                log("\(item.id): wrote \(url.path)")
            } catch {
                report.failed.append((item.id, "\(error)"))
                log("error: \(item.id): \(error)")
            }
        }
        return report
    }
}
