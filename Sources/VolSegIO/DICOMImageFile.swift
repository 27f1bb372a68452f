import Foundation

/// One image plane of a series: a single-frame file, or one frame of an enhanced (multi-frame)
/// object, with the geometry and rescale it needs to take its place in a volume.
public struct DICOMImagePlane: Sendable {
    public let file: URL
    /// The frame within its file, 0-based (0 for a single-frame file).
    public let frame: Int
    public let sopClassUID: String
    public let sopInstanceUID: String
    /// Whether the file holds several frames (a SEG then references frame numbers).
    public let isMultiFrame: Bool
    public let instanceNumber: Int?
    public let rows: Int, columns: Int
    /// ImagePositionPatient: the LPS position (mm) of the centre of the first pixel.
    public let position: [Double]
    /// ImageOrientationPatient: the row direction (increasing column) then the column direction.
    public let orientation: [Double]
    /// PixelSpacing: between rows, between columns (mm).
    public let pixelSpacing: [Double]
    public let rescaleSlope: Double, rescaleIntercept: Double

    /// The file name, and the frame for a multi-frame file, for messages.
    public var name: String { isMultiFrame ? "\(file.lastPathComponent) frame \(frame + 1)" : file.lastPathComponent }
}

/// What VolSeg reads from the header of one DICOM image file: the series it belongs to, how its
/// pixels are stored, and its image planes. The pixels themselves are read later
/// (`DICOMPixelDecoding`), file by file, once the series is known to be whole.
public struct DICOMImageFile: Sendable {
    public let url: URL
    public let seriesInstanceUID: String
    public let studyInstanceUID: String
    public let frameOfReferenceUID: String
    public let seriesDescription: String
    public let seriesNumber: Int?
    public let modality: String
    public let patientID: String
    public let photometricInterpretation: String
    public let bitsAllocated: Int, bitsStored: Int
    public let isSigned: Bool
    public let sliceThickness: Double?
    public let gantryTilt: Double?
    public let transferSyntax: String
    public let planes: [DICOMImagePlane]

    /// SOP classes that are not images: segmentations, structured reports, RT structures, key
    /// objects, presentation states, raw data. Any object without Pixel Data is not one either.
    static let nonImageClassPrefixes = ["1.2.840.10008.5.1.4.1.1.66", "1.2.840.10008.5.1.4.1.1.88",
                                        "1.2.840.10008.5.1.4.1.1.481.3", "1.2.840.10008.5.1.4.1.1.11",
                                        "1.2.840.10008.5.1.4.1.1.104", "1.2.840.10008.1.3.10"]

    /// Reads the header of `url`. Throws `nonImageObject` for a non-image object and
    /// `badElement` / `unsupportedPixels` naming the element for an image VolSeg cannot use.
    public static func read(_ url: URL) throws -> DICOMImageFile {
        let file = try DICOMFile(url)
        return try DICOMImageFile(file)
    }

    init(_ file: DICOMFile) throws {
        let path = file.url.path
        let sopClass = file.string(.sopClassUID) ?? ""
        if !file.has(.pixelData)
            || Self.nonImageClassPrefixes.contains(where: { sopClass.hasPrefix($0) && (sopClass == $0 || sopClass.dropFirst($0.count).first == ".") }) {
            throw DICOMError.nonImageObject(path: path, sopClass: sopClass.isEmpty ? "unknown" : sopClass)
        }
        url = file.url
        seriesInstanceUID = file.string(.seriesInstanceUID) ?? ""
        if seriesInstanceUID.isEmpty {
            throw DICOMError.badElement(path: path, tag: .seriesInstanceUID, value: "", reason: "SeriesInstanceUID is missing")
        }
        studyInstanceUID = file.string(.studyInstanceUID) ?? ""
        frameOfReferenceUID = file.string(.frameOfReferenceUID) ?? ""
        seriesDescription = file.string(.seriesDescription) ?? ""
        seriesNumber = try file.number(.seriesNumber).map { Int($0) }
        modality = file.string(.modality) ?? ""
        patientID = file.string(.patientID) ?? ""
        transferSyntax = file.transferSyntaxUID
        photometricInterpretation = file.string(.photometricInterpretation) ?? ""
        let samples = try file.number(.samplesPerPixel).map { Int($0) } ?? 1
        guard samples == 1, ["MONOCHROME1", "MONOCHROME2"].contains(photometricInterpretation) else {
            throw DICOMError.unsupportedPixels(path: path, reason: "\(photometricInterpretation.isEmpty ? "no" : photometricInterpretation) "
                                               + "photometric interpretation with \(samples) samples per pixel; a scan is MONOCHROME1 or MONOCHROME2")
        }
        bitsAllocated = Int(try file.required(.bitsAllocated, count: 1, what: "BitsAllocated")[0])
        bitsStored = try file.number(.bitsStored).map { Int($0) } ?? bitsAllocated
        guard [8, 16, 32].contains(bitsAllocated), bitsStored >= 1, bitsStored <= bitsAllocated else {
            throw DICOMError.unsupportedPixels(path: path, reason: "BitsAllocated \(bitsAllocated) with BitsStored \(bitsStored)")
        }
        isSigned = (try file.number(.pixelRepresentation) ?? 0) == 1
        sliceThickness = try file.number(.sliceThickness)
        gantryTilt = try file.number(.gantryDetectorTilt)
        let rows = Int(try file.required(.rows, count: 1, what: "Rows")[0])
        let columns = Int(try file.required(.columns, count: 1, what: "Columns")[0])
        guard rows > 0, columns > 0 else {
            throw DICOMError.badElement(path: path, tag: .rows, value: "\(rows) x \(columns)", reason: "the image has no pixels")
        }
        let frames = try file.number(.numberOfFrames).map { Int($0) } ?? 1
        let instance = try file.number(.instanceNumber).map { Int($0) }
        let sopInstance = file.string(.sopInstanceUID) ?? ""
        if frames > 1 || file.itemCount(.perFrameFunctionalGroups) != nil {
            guard file.hasPerFrameGroups(frames: frames) else {
                throw DICOMError.badElement(path: path, tag: .perFrameFunctionalGroups, value: "",
                                            reason: "the Per-frame Functional Groups Sequence needs one item for each of the \(frames) frames")
            }
            planes = try (0..<frames).map { frame in
                try Self.enhancedPlane(file, frame: frame, rows: rows, columns: columns,
                                       sopClass: sopClass, sopInstance: sopInstance, instance: instance)
            }
        } else {
            planes = [DICOMImagePlane(
                file: file.url, frame: 0, sopClassUID: sopClass, sopInstanceUID: sopInstance, isMultiFrame: false,
                instanceNumber: instance, rows: rows, columns: columns,
                position: try file.required(.imagePositionPatient, count: 3, what: "ImagePositionPatient"),
                orientation: try Self.orientation(file, in: []),
                pixelSpacing: try Self.pixelSpacing(file, in: []),
                rescaleSlope: try file.number(.rescaleSlope) ?? 1, rescaleIntercept: try file.number(.rescaleIntercept) ?? 0)]
        }
    }

    /// A frame of an enhanced object, its functional groups found by `DICOMFile.functionalGroup`.
    static func enhancedPlane(_ file: DICOMFile, frame: Int, rows: Int, columns: Int,
                              sopClass: String, sopInstance: String, instance: Int?) throws -> DICOMImagePlane {
        func group(_ sequence: DICOMTag, holding tag: DICOMTag) -> [DICOMItemStep]? {
            file.functionalGroup(sequence, holding: tag, frame: frame)
        }
        guard let positionSteps = group(.planePositionSequence, holding: .imagePositionPatient),
              let orientationSteps = group(.planeOrientationSequence, holding: .imageOrientationPatient),
              let measureSteps = group(.pixelMeasuresSequence, holding: .pixelSpacing) else {
            throw DICOMError.badElement(path: file.url.path, tag: .perFrameFunctionalGroups, value: "",
                                        reason: "frame \(frame + 1) has no plane position, plane orientation or pixel measures")
        }
        let rescale = group(.pixelValueTransformationSequence, holding: .rescaleSlope)
        return DICOMImagePlane(
            file: file.url, frame: frame, sopClassUID: sopClass, sopInstanceUID: sopInstance, isMultiFrame: true,
            instanceNumber: instance, rows: rows, columns: columns,
            position: try file.required(.imagePositionPatient, count: 3, in: positionSteps, what: "ImagePositionPatient"),
            orientation: try orientation(file, in: orientationSteps),
            pixelSpacing: try pixelSpacing(file, in: measureSteps),
            rescaleSlope: try rescale.flatMap { try file.number(.rescaleSlope, in: $0) } ?? 1,
            rescaleIntercept: try rescale.flatMap { try file.number(.rescaleIntercept, in: $0) } ?? 0)
    }

    /// ImageOrientationPatient with both direction cosines of unit length and at right angles.
    static func orientation(_ file: DICOMFile, in steps: [DICOMItemStep]) throws -> [Double] {
        let values = try file.required(.imageOrientationPatient, count: 6, in: steps, what: "ImageOrientationPatient")
        let row = Array(values[0..<3]), column = Array(values[3..<6])
        let rowLength = DICOMGeometry.length(row), columnLength = DICOMGeometry.length(column)
        guard abs(rowLength - 1) < 1e-3, abs(columnLength - 1) < 1e-3, abs(DICOMGeometry.dot(row, column)) < 1e-3 else {
            throw DICOMError.badElement(path: file.url.path, tag: .imageOrientationPatient,
                                        value: values.map { "\($0)" }.joined(separator: "\\"),
                                        reason: "ImageOrientationPatient is not two orthogonal unit vectors")
        }
        return row.map { $0 / rowLength } + column.map { $0 / columnLength }
    }

    static func pixelSpacing(_ file: DICOMFile, in steps: [DICOMItemStep]) throws -> [Double] {
        let values = try file.required(.pixelSpacing, count: 2, in: steps, what: "PixelSpacing")
        guard values.allSatisfy({ $0 > 0 }) else {
            throw DICOMError.badElement(path: file.url.path, tag: .pixelSpacing, value: values.map { "\($0)" }.joined(separator: "\\"),
                                        reason: "PixelSpacing must be positive")
        }
        return values
    }
}
