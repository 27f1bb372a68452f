import Foundation

/// What `volseg info SERIES_DIR` prints: the series of the folder and, when there is one (or
/// `--series` names one), the volume VolSeg reads from it, as `volseg info FILE` shows a NIfTI file.
public struct DICOMSeriesInfo: Sendable {
    public let folder: String
    public let series: [DICOMSeriesSummary]
    public let nonImage: [String]
    /// The volume's header facts and statistics (nil when the folder holds several series and
    /// none was chosen).
    public let volume: NIfTIInfo?
    public let chosen: DICOMSeriesVolume?

    public static func read(_ folder: URL, seriesUID: String?) throws -> DICOMSeriesInfo {
        let surveyed = try DICOMSeriesReader.survey(folder)
        let (found, nonImage) = surveyed
        guard !found.isEmpty else { throw DICOMError.noImages(folder: folder.path, nonImage: nonImage) }
        let summaries = DICOMSeriesReader.summaries(found)
        var chosen: DICOMSeriesVolume?
        if seriesUID != nil || found.count == 1 {
            chosen = try DICOMSeriesReader.read(folder, surveyed: surveyed, seriesUID: seriesUID)
        }
        return DICOMSeriesInfo(folder: folder.path, series: summaries, nonImage: nonImage,
                               volume: chosen.map { NIfTIInfo(volume: $0.volume) }, chosen: chosen)
    }

    public var text: String {
        var lines = ["\(folder): DICOM, \(series.count) series"]
        lines += series.map { "  series \($0)" }
        if !nonImage.isEmpty { lines.append("  non-image objects (not read): " + nonImage.joined(separator: ", ")) }
        guard let volume, let chosen else {
            lines.append("  choose one with --series UID to see its volume")
            return lines.joined(separator: "\n")
        }
        let first = chosen.firstFile, plane = chosen.planes[0]
        let slopes = Set(chosen.planes.map(\.rescaleSlope)), intercepts = Set(chosen.planes.map(\.rescaleIntercept))
        lines.append("  read: \(first.modality) \(first.photometricInterpretation), \(first.bitsStored) of \(first.bitsAllocated) bits "
                     + "\(first.isSigned ? "signed" : "unsigned"), transfer syntax \(first.transferSyntax)")
        lines.append("  slices ordered by position along the normal; step \(String(format: "%.4g", chosen.sliceStep)) mm, "
                     + "pixel spacing \(plane.pixelSpacing.map { String(format: "%.4g", $0) }.joined(separator: " x ")) mm (rows x columns)")
        lines.append("  rescale slope \(slopes.sorted().map { "\($0)" }.joined(separator: ", ")) intercept "
                     + intercepts.sorted().map { "\($0)" }.joined(separator: ", ")
                     + (first.photometricInterpretation == "MONOCHROME1" ? "; MONOCHROME1 inverted" : ""))
        lines += volume.text.split(separator: "\n").dropFirst().map(String.init)
        return lines.joined(separator: "\n")
    }

    /// The chosen volume's NIfTI-style fields (as `volseg info FILE --json`) with the series
    /// list; without a chosen series, the list alone.
    public var json: String {
        let list = "[" + series.map { "{\"uid\": \(JSONText.string($0.uid)), \"modality\": \(JSONText.string($0.modality)), "
            + "\"slices\": \($0.planeCount), \"files\": \($0.fileCount), \"rows\": \($0.rows), \"columns\": \($0.columns)}" }
            .joined(separator: ", ") + "]"
        guard let volume else { return "{\"series\": \(list)}" }
        return "{\"series\": \(list), \"volume\": \(volume.json)}"
    }
}
