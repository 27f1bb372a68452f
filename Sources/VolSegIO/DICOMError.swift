import Foundation

/// Everything that stops a DICOM series from becoming a volume, or a Segmentation from being
/// written or read. Each message names the file or folder and the reason, and says what to do
/// where there is something to do.
public enum DICOMError: Error, Equatable, CustomStringConvertible {
    case notDICOM(path: String, reason: String)
    case noImages(folder: String, nonImage: [String])
    case severalSeries(folder: String, series: [String])
    case unknownSeries(folder: String, uid: String, series: [String])
    case badElement(path: String, tag: DICOMTag, value: String, reason: String)
    case nonImageObject(path: String, sopClass: String)
    case unsupportedPixels(path: String, reason: String)
    case undecodablePixels(path: String, reason: String)
    case mixedSizes(path: String, size: [Int], expected: [Int], reference: String)
    case mixedOrientations(path: String, orientation: [Double], expected: [Double], reference: String)
    case duplicatePosition(path: String, other: String, position: [Double])
    case missingSlices(folder: String, after: String, before: String, step: Double, medianStep: Double)
    case nonUniformSpacing(folder: String, after: String, before: String, step: Double, medianStep: Double)
    case gantryTilt(folder: String, path: String, degrees: Double?, shearMM: Double)
    case channelGeometry(path: String, reference: String, reason: String)
    case notSegmentation(path: String, reason: String)
    case segmentationGeometry(path: String, reason: String)
    case unmatchedSegment(path: String, label: String, known: [String])
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .notDICOM(let p, let reason):
            return "\(p): \(reason)"
        case .noImages(let folder, let nonImage):
            return "\(folder): no DICOM image series here"
                + (nonImage.isEmpty ? "" : "; only non-image objects: " + nonImage.joined(separator: ", "))
        case .severalSeries(let folder, let series):
            return "\(folder) holds \(series.count) DICOM series; choose one with --series UID:\n  " + series.joined(separator: "\n  ")
        case .unknownSeries(let folder, let uid, let series):
            return "\(folder): no series with SeriesInstanceUID \(uid); it holds:\n  " + series.joined(separator: "\n  ")
        case .badElement(let p, let tag, let value, let reason):
            return "\(p): \(tag) \(reason)" + (value.isEmpty ? "" : " (\"\(value)\")")
        case .nonImageObject(let p, let sopClass):
            return "\(p): a non-image DICOM object (SOP class \(sopClass)), not a slice of an image series"
        case .unsupportedPixels(let p, let reason):
            return "\(p): pixel data VolSeg cannot use: \(reason)"
        case .undecodablePixels(let p, let reason):
            return "\(p): \(reason)"
        case .mixedSizes(let p, let size, let expected, let reference):
            return "\(p): \(size[0]) rows x \(size[1]) columns, but \(reference) has \(expected[0]) x \(expected[1]): "
                + "one series must have one slice size"
        case .mixedOrientations(let p, let orientation, let expected, let reference):
            return "\(p): ImageOrientationPatient \(format(orientation)) differs from \(reference)'s \(format(expected)): "
                + "one series must have one orientation"
        case .duplicatePosition(let p, let other, let position):
            return "\(p) and \(other) lie at the same position \(format(position)) (two acquisitions in one series?)"
        case .missingSlices(let folder, let after, let before, let step, let median):
            return "\(folder): slices missing between \(after) and \(before): a step of \(String(format: "%.3f", step)) mm "
                + "where the series steps \(String(format: "%.3f", median)) mm (>= 1.5x)"
        case .nonUniformSpacing(let folder, let after, let before, let step, let median):
            return "\(folder): non-uniform slice spacing: \(String(format: "%.3f", step)) mm between \(after) and \(before), "
                + "\(String(format: "%.3f", median)) mm elsewhere (a volume needs one spacing; resample the series first)"
        case .gantryTilt(let folder, let p, let degrees, let shear):
            return "\(folder): the slices are sheared (gantry tilt\(degrees.map { String(format: " %.2f degrees", $0) } ?? "")): "
                + "\(p) is \(String(format: "%.3f", shear)) mm off the slice normal of the first slice; VolSeg does not "
                + "resample tilted series: correct the tilt first (e.g. dcm2niix writes a _Tilt_1 volume)"
        case .channelGeometry(let p, let reference, let reason):
            return "\(p): not on the grid of \(reference) (\(reason)); channels must share one geometry: co-register the series first"
        case .notSegmentation(let p, let reason):
            return "\(p): not a DICOM Segmentation VolSeg can read: \(reason)"
        case .segmentationGeometry(let p, let reason):
            return "\(p): its frames do not lie on the reference grid: \(reason)"
        case .unmatchedSegment(let p, let label, let known):
            return "\(p): segment \"\(label)\" matches no label name (\(known.joined(separator: ", ")))"
        case .writeFailed(let p, let reason):
            return "\(p): could not write the DICOM Segmentation: \(reason)"
        }
    }

    private func format(_ values: [Double]) -> String {
        "[" + values.map { String(format: "%.4g", $0) }.joined(separator: ", ") + "]"
    }
}
