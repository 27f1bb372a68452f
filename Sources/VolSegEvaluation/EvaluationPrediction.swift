import Foundation
import VolSegCore
import VolSegIO

/// A prediction file read as a label map on its reference's grid: a NIfTI label map as it is, or
/// a DICOM Segmentation (`CASE.dcm`, as `volseg segment --output-type dicom-seg` writes it) whose
/// segments are mapped to label values by their SegmentLabel and whose frames are placed on the
/// reference's voxels by their positions (the reference must be a NIfTI of the SEG's source
/// series, e.g. dcm2niix's or VolSeg's).
public enum EvaluationPrediction {
    public static func isSegmentation(_ url: URL) -> Bool { url.pathExtension.lowercased() == "dcm" }

    /// Label value of each name a user or the dataset gives (single-valued labels only: a region
    /// has no one value to paint), compared without case, spaces or underscores.
    public static func labelValuesByName(convention: LabelConvention?, labels: [EvaluationLabel]) -> [String: Int] {
        var byName: [String: Int] = [:]
        for (value, name) in convention?.labels ?? [:] where value != 0 { byName[normalized(name)] = value }
        for label in labels where label.values.count == 1 && !label.isRegion { byName[normalized(label.name)] = label.values[0] }
        return byName
    }

    static func normalized(_ name: String) -> String {
        name.lowercased().filter { !$0.isWhitespace && $0 != "_" && $0 != "-" }
    }

    public static func read(_ url: URL, reference: NIfTIVolume, labelValues: [String: Int]) throws -> NIfTIVolume {
        guard isSegmentation(url) else { return try NIfTIReader.read(url) }
        let segmentation = try DICOMSegmentation.read(url)
        var valueOfSegment: [Int: Int] = [:]
        // Segment 0 is a LABELMAP segmentation's background, 0 in the label map anyway.
        for segment in segmentation.segments where segment.number != 0 {
            guard let value = labelValues[normalized(segment.label)] else {
                throw DICOMError.unmatchedSegment(path: url.path, label: segment.label,
                                                  known: labelValues.sorted { $0.value < $1.value }.map { "\($0.key)=\($0.value)" })
            }
            valueOfSegment[segment.number] = value
        }
        let labels = try segmentation.labelMap(on: reference.header, labelOfSegment: valueOfSegment)
        return NIfTIVolume(header: reference.header, voxels: labels.reshaped([1] + labels.shape), path: url.path)
    }
}
