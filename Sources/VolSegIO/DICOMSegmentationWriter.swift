import CDICOM
import Foundation
import VolSegCore

/// A label map written as a binary DICOM Segmentation of the series it was segmented from,
/// through DCMTK's dcmseg, so that viewers (3D Slicer, OHIF) and highdicom read it.
///
/// Segment k is the k-th label value in ascending order (background 0 left out), its SegmentLabel
/// the label's name and its property codes from `DICOMSegmentCodes`. Each segment has one frame per
/// slice that holds it (empty frames are omitted), on the source slice's position and orientation,
/// derived from that slice's instance (and frame, for an enhanced source). The Segmentation takes
/// the source's patient, study and frame of reference and references every source instance.
public enum DICOMSegmentationWriter {
    /// Writes `labels` (the series' grid, [D, H, W] or [1, D, H, W], values `labelValues`) to
    /// `url` atomically: a temporary file renamed into place, nothing left on an error.
    public static func write(_ labels: Tensor, labelValues: [Int], names: [Int: String], series: DICOMSeriesVolume,
                             softwareVersion: String, to url: URL) throws {
        let planes = series.planes, rows = planes[0].rows, columns = planes[0].columns
        let planeSize = rows * columns
        guard labels.count == planes.count * planeSize else {
            throw DICOMError.writeFailed(path: url.path, reason: "the label map has \(labels.count) voxels where the series has "
                                         + "\(planes.count) slices of \(rows) x \(columns)")
        }
        let values = labelValues.filter { $0 != 0 }.sorted()
        let present = Set((0..<labels.count).lazy.map { Int(labels.data[$0]) })
        if let unknown = present.subtracting(values + [0]).min() {
            throw DICOMError.writeFailed(path: url.path, reason: "label value \(unknown) is not one of the model's labels \(values)")
        }
        var frames: [UInt8] = [], frameSegments: [UInt16] = [], framePositions: [Double] = [], frameSlices: [UInt32] = []
        var frameClasses: [String] = [], frameInstances: [String] = [], frameSourceFrames: [UInt32] = []
        for (segment, value) in values.enumerated() {
            let target = Float(value)
            for (slice, plane) in planes.enumerated() {
                let voxels = labels.data + slice * planeSize
                var frame = [UInt8](repeating: 0, count: planeSize), any = false
                for row in 0..<rows {
                    for column in 0..<columns
                    where voxels[DICOMGeometry.voxelIndex(row: row, column: column, rows: rows, columns: columns)] == target {
                        frame[row * columns + column] = 1
                        any = true
                    }
                }
                guard any else { continue }
                frames += frame
                frameSegments.append(UInt16(segment + 1))
                framePositions += plane.position
                frameSlices.append(UInt32(slice + 1))
                frameClasses.append(plane.sopClassUID)
                frameInstances.append(plane.sopInstanceUID)
                frameSourceFrames.append(plane.isMultiFrame ? UInt32(plane.frame + 1) : 0)
            }
        }
        var seen = Set<String>()
        let sources = planes.filter { seen.insert($0.sopInstanceUID).inserted }
        let segmentNames = values.map { names[$0] ?? "label \($0)" }
        let segmentCodes = segmentNames.map { DICOMSegmentCodes.codes(for: $0) }
        let spacingBetween = series.sliceStep, thickness = series.firstFile.sliceThickness ?? series.sliceStep
        let temporary = AtomicFile.temporaryURL(for: url, keepingExtension: true)
        defer { try? FileManager.default.removeItem(at: temporary) }
        let memory = CMemory()
        let segments = memory.array(zip(segmentNames, segmentCodes).map { name, codes in
            VSSegSegment(label: memory.string(name),
                         categoryCode: memory.string(codes.category.value), categoryScheme: memory.string(codes.category.scheme),
                         categoryMeaning: memory.string(codes.category.meaning), typeCode: memory.string(codes.type.value),
                         typeScheme: memory.string(codes.type.scheme), typeMeaning: memory.string(codes.type.meaning))
        })
        var request = VSSegRequest()
        request.sourceFile = memory.string(series.firstFile.url.path)
        request.rows = UInt16(rows)
        request.columns = UInt16(columns)
        request.orientation = memory.array(planes[0].orientation)
        request.pixelSpacing = memory.array(planes[0].pixelSpacing)
        request.sliceThickness = thickness
        request.spacingBetweenSlices = spacingBetween
        request.segmentCount = Int32(values.count)
        request.segments = segments
        request.frameCount = Int32(frameSegments.count)
        request.frames = memory.array(frames)
        request.frameSegments = memory.array(frameSegments)
        request.framePositions = memory.array(framePositions)
        request.frameSlices = memory.array(frameSlices)
        request.frameSourceClasses = memory.strings(frameClasses)
        request.frameSourceInstances = memory.strings(frameInstances)
        request.frameSourceFrames = memory.array(frameSourceFrames)
        request.sourceCount = Int32(sources.count)
        request.sourceClasses = memory.strings(sources.map(\.sopClassUID))
        request.sourceInstances = memory.strings(sources.map(\.sopInstanceUID))
        request.seriesDescription = memory.string("VolSeg segmentation")
        request.softwareVersion = memory.string(softwareVersion)
        request.algorithmName = memory.string("VolSeg")
        request.contentLabel = memory.string("VOLSEG")
        // The source series' number + 1000: a new series beside it, in the same study.
        request.seriesNumber = UInt32(max(0, series.firstFile.seriesNumber ?? 0) + 1000)
        var message = [CChar](repeating: 0, count: 1024)
        let status = vs_dicom_write_seg(temporary.path, &request, &message, message.count)
        guard status == 0 else { throw DICOMError.writeFailed(path: url.path, reason: String(cString: message)) }
        try AtomicFile.flush(temporary, reportingAs: url, expectedBytes: nil)
        try AtomicFile.rename(temporary, to: url)
    }

}

/// C copies of Swift values that live as long as this object: the arrays and strings a C
/// request points to, freed together.
final class CMemory {
    private var releases: [() -> Void] = []

    func array<Element>(_ values: [Element]) -> UnsafePointer<Element> {
        let pointer = UnsafeMutablePointer<Element>.allocate(capacity: max(values.count, 1))
        pointer.initialize(from: values, count: values.count)
        releases.append { pointer.deinitialize(count: values.count); pointer.deallocate() }
        return UnsafePointer(pointer)
    }

    func string(_ text: String) -> UnsafePointer<CChar> {
        let copy = strdup(text)!
        releases.append { free(copy) }
        return UnsafePointer(copy)
    }

    func strings(_ texts: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        array(texts.map { Optional(string($0)) })
    }

    deinit { releases.forEach { $0() } }
}
