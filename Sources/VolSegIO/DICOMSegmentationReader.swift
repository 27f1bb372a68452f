import Foundation
import VolSegCore

/// A DICOM Segmentation object read back: its segments, what it references, and its frames,
/// which `labelMap(on:)` places on a reference grid. Reads VolSeg's own SEG files and those of
/// other tools (highdicom, dcmqi, 3D Slicer): binary frames, fractional ones at half their
/// maximum, and label-map frames (SegmentationType LABELMAP, each pixel a segment number).
public struct DICOMSegmentation {
    public struct Segment: Equatable, Sendable {
        public let number: Int
        public let label: String
        public let category: DICOMCode?
        public let type: DICOMCode?
    }

    public struct Frame {
        /// The frame's segment; nil for a LABELMAP frame, whose pixels are segment numbers.
        public let segment: Int?
        /// ImagePositionPatient (LPS) of the frame's first pixel.
        public let position: [Double]
        public let orientation: [Double]
        public let pixelSpacing: [Double]
        /// rows x columns: 1 where the segment is, or (LABELMAP) the segment number, 0 for none.
        public let pixels: [UInt16]
    }

    public let path: String
    public let segments: [Segment]
    public let frameOfReferenceUID: String
    public let referencedSeriesUIDs: [String]
    public let referencedInstanceUIDs: [String]
    public let rows: Int, columns: Int
    public let frames: [Frame]

    /// Segmentation Storage, and Label Map Segmentation Storage (DICOM 2024, SegmentationType LABELMAP).
    static let segmentationClasses: Set<String> = ["1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"]

    /// Whether `url` is a DICOM Segmentation file (its SOP class), without reading its frames.
    public static func isSegmentation(_ url: URL) -> Bool {
        guard DICOMFile.hasPart10Marker(url), let file = try? DICOMFile(url) else { return false }
        return segmentationClasses.contains(file.string(.sopClassUID) ?? "")
    }

    public static func read(_ url: URL) throws -> DICOMSegmentation {
        let file = try DICOMFile(url)
        let path = url.path
        guard segmentationClasses.contains(file.string(.sopClassUID) ?? "") else {
            throw DICOMError.notSegmentation(path: path, reason: "SOP class \(file.string(.sopClassUID) ?? "missing"), not Segmentation Storage")
        }
        let type = file.string(.segmentationType) ?? ""
        guard ["BINARY", "FRACTIONAL", "LABELMAP"].contains(type) else {
            throw DICOMError.notSegmentation(path: path, reason: "SegmentationType \(type.isEmpty ? "missing" : type)")
        }
        var segments: [Segment] = []
        for item in 0..<(file.itemCount(.segmentSequence) ?? 0) {
            let steps = [DICOMItemStep(sequence: .segmentSequence, item: item)]
            func code(_ sequence: DICOMTag) -> DICOMCode? {
                let inner = steps + [DICOMItemStep(sequence: sequence, item: 0)]
                guard let value = file.string(DICOMTag(0x0008, 0x0100), in: inner) else { return nil }
                return DICOMCode(value, file.string(DICOMTag(0x0008, 0x0102), in: inner) ?? "",
                                 file.string(DICOMTag(0x0008, 0x0104), in: inner) ?? "")
            }
            guard let number = try file.number(.segmentNumber, in: steps) else {
                throw DICOMError.notSegmentation(path: path, reason: "segment item \(item + 1) has no SegmentNumber")
            }
            segments.append(Segment(number: Int(number), label: file.string(.segmentLabel, in: steps) ?? "",
                                    category: code(DICOMTag(0x0062, 0x0003)), type: code(DICOMTag(0x0062, 0x000F))))
        }
        guard !segments.isEmpty else { throw DICOMError.notSegmentation(path: path, reason: "it has no Segment Sequence") }
        var seriesUIDs: [String] = [], instanceUIDs: [String] = []
        for s in 0..<(file.itemCount(.referencedSeriesSequence) ?? 0) {
            let series = [DICOMItemStep(sequence: .referencedSeriesSequence, item: s)]
            if let uid = file.string(.seriesInstanceUID, in: series) { seriesUIDs.append(uid) }
            for i in 0..<(file.itemCount(.referencedInstanceSequence, in: series) ?? 0) {
                if let uid = file.string(.referencedSOPInstanceUID, in: series + [DICOMItemStep(sequence: .referencedInstanceSequence, item: i)]) {
                    instanceUIDs.append(uid)
                }
            }
        }
        let rows = Int(try file.required(.rows, count: 1, what: "Rows")[0])
        let columns = Int(try file.required(.columns, count: 1, what: "Columns")[0])
        let frameCount = Int(try file.number(.numberOfFrames) ?? 1)
        guard file.hasPerFrameGroups(frames: frameCount) else {
            throw DICOMError.notSegmentation(path: path, reason: "the Per-frame Functional Groups Sequence needs one item for each of the \(frameCount) frames")
        }
        let maximum = type == "FRACTIONAL" ? (try file.number(DICOMTag(0x0062, 0x000E)) ?? 255) : 1
        let bytesPerPixel = type == "BINARY" ? 0 : Int(try file.number(.bitsAllocated) ?? 8) / 8
        let planeSize = rows * columns
        let frames: [Frame] = try file.withPixelBytes { bytes in
            let needed = type == "BINARY" ? (frameCount * planeSize + 7) / 8 : frameCount * planeSize * bytesPerPixel
            guard bytes.count >= needed else {
                throw DICOMError.notSegmentation(path: path, reason: "Pixel Data holds \(bytes.count) bytes where \(frameCount) frames need \(needed)")
            }
            return try (0..<frameCount).map { f in
                func steps(_ sequence: DICOMTag, holding tag: DICOMTag) throws -> [DICOMItemStep] {
                    guard let steps = file.functionalGroup(sequence, holding: tag, frame: f) else {
                        throw DICOMError.notSegmentation(path: path, reason: "frame \(f + 1) has no \(tag)")
                    }
                    return steps
                }
                let segment = type == "LABELMAP" ? nil
                    : try file.number(.referencedSegmentNumber, in: try steps(.segmentIdentificationSequence, holding: .referencedSegmentNumber))!
                let position = try file.required(.imagePositionPatient, count: 3, in: try steps(.planePositionSequence, holding: .imagePositionPatient),
                                                 what: "ImagePositionPatient")
                let orientation = try DICOMImageFile.orientation(file, in: try steps(.planeOrientationSequence, holding: .imageOrientationPatient))
                let spacing = try DICOMImageFile.pixelSpacing(file, in: try steps(.pixelMeasuresSequence, holding: .pixelSpacing))
                var pixels = [UInt16](repeating: 0, count: planeSize)
                for p in 0..<planeSize {
                    switch type {
                    case "BINARY":
                        // Binary frames are packed 8 pixels a byte, first pixel in the lowest bit, and
                        // run on across frame boundaries without padding.
                        let bit = f * planeSize + p
                        pixels[p] = UInt16((bytes[bit >> 3] >> UInt8(bit & 7)) & 1)
                    case "FRACTIONAL":
                        let value = bytes[f * planeSize + p]
                        pixels[p] = value > 0 && Double(value) >= maximum / 2 ? 1 : 0
                    default:
                        let at = (f * planeSize + p) * bytesPerPixel
                        pixels[p] = bytesPerPixel == 2 ? UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 : UInt16(bytes[at])
                    }
                }
                return Frame(segment: segment.map { Int($0) }, position: position, orientation: orientation, pixelSpacing: spacing, pixels: pixels)
            }
        }
        return DICOMSegmentation(path: path, segments: segments, frameOfReferenceUID: file.string(.frameOfReferenceUID) ?? "",
                                 referencedSeriesUIDs: seriesUIDs, referencedInstanceUIDs: instanceUIDs,
                                 rows: rows, columns: columns, frames: frames)
    }

    /// The label map on the grid of `reference` (shape [D, H, W], its affine voxel -> RAS): each
    /// frame's pixels land on the voxels at their world positions, painted with the value
    /// `labelOfSegment` gives the frame's segment (later segments over earlier ones where they
    /// overlap). Throws when a frame does not lie on the grid's voxels (another series, another
    /// orientation, a pixel outside).
    public func labelMap(on reference: NIfTIHeader, labelOfSegment: [Int: Int]) throws -> Tensor {
        let shape = reference.spatialShape   // (x, y, z)
        let inverse = try Self.inverse(of: reference.affine, path: path)
        func voxel(ofLPS lps: [Double]) -> [Double] {
            let ras = [-lps[0] - reference.affine[0, 3], -lps[1] - reference.affine[1, 3], lps[2] - reference.affine[2, 3]]
            return (0..<3).map { r in (0..<3).reduce(0) { $0 + inverse[r][$1] * ras[$1] } }
        }
        let labels = Tensor.zeros([shape[2], shape[1], shape[0]])
        for frame in frames.sorted(by: { ($0.segment ?? 0) < ($1.segment ?? 0) }) {
            let referenced = frame.segment.map { [$0] } ?? Array(Set(frame.pixels.map(Int.init)).subtracting([0]))
            for number in referenced where labelOfSegment[number] == nil {
                throw DICOMError.notSegmentation(path: path, reason: "a frame refers to segment \(number), which is not described")
            }
            let origin = voxel(ofLPS: frame.position)
            let alongRow = voxel(ofLPS: (0..<3).map { frame.position[$0] + frame.orientation[$0] * frame.pixelSpacing[1] })
            let alongColumn = voxel(ofLPS: (0..<3).map { frame.position[$0] + frame.orientation[3 + $0] * frame.pixelSpacing[0] })
            let columnStep = zip(alongRow, origin).map { $0 - $1 }, rowStep = zip(alongColumn, origin).map { $0 - $1 }
            let start = try Self.gridPoint(origin, path: path, what: "the first pixel of a frame")
            let dc = try Self.gridPoint(columnStep, path: path, what: "a step along a row"), dr = try Self.gridPoint(rowStep, path: path, what: "a step down a column")
            guard dc.map(abs).reduce(0, +) == 1, dr.map(abs).reduce(0, +) == 1 else {
                throw DICOMError.segmentationGeometry(path: path, reason: "its pixels are not the reference's voxels (a step of one pixel moves \(dc) / \(dr) voxels)")
            }
            for row in 0..<rows {
                for column in 0..<columns where frame.pixels[row * columns + column] != 0 {
                    let v = (0..<3).map { start[$0] + column * dc[$0] + row * dr[$0] }
                    guard (0..<3).allSatisfy({ v[$0] >= 0 && v[$0] < shape[$0] }) else {
                        throw DICOMError.segmentationGeometry(path: path, reason: "pixel (row \(row), column \(column)) of a frame lies at voxel \(v), outside the reference's \(shape)")
                    }
                    let number = frame.segment ?? Int(frame.pixels[row * columns + column])
                    labels.data[(v[2] * shape[1] + v[1]) * shape[0] + v[0]] = Float(labelOfSegment[number]!)
                }
            }
        }
        return labels
    }

    /// A position in voxels that must be whole (to 1e-3 voxel).
    static func gridPoint(_ point: [Double], path: String, what: String) throws -> [Int] {
        let rounded = point.map { $0.rounded() }
        guard zip(point, rounded).allSatisfy({ abs($0 - $1) < 1e-3 }) else {
            throw DICOMError.segmentationGeometry(path: path, reason: "\(what) falls between voxels (\(point.map { String(format: "%.3f", $0) }.joined(separator: ", ")))")
        }
        return rounded.map { Int($0) }
    }

    /// The inverse of the affine's 3x3 part.
    static func inverse(of affine: NIfTIAffine, path: String) throws -> [[Double]] {
        let m = (0..<3).map { r in (0..<3).map { affine[r, $0] } }
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        guard abs(det) > 1e-12 else { throw DICOMError.segmentationGeometry(path: path, reason: "the reference's affine is singular") }
        return (0..<3).map { r in
            (0..<3).map { c in
                let rows = [0, 1, 2].filter { $0 != c }, cols = [0, 1, 2].filter { $0 != r }
                let minor = m[rows[0]][cols[0]] * m[rows[1]][cols[1]] - m[rows[0]][cols[1]] * m[rows[1]][cols[0]]
                return ((r + c) % 2 == 0 ? 1 : -1) * minor / det
            }
        }
    }
}
