import CDICOM
import Foundation

/// A DICOM data element's tag, (group, element), as DICOM's own tables print it.
public struct DICOMTag: Hashable, Sendable, CustomStringConvertible {
    public let group: UInt16
    public let element: UInt16

    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    var packed: UInt32 { UInt32(group) << 16 | UInt32(element) }
    public var description: String { String(format: "(%04X,%04X)", group, element) }

    static let sopClassUID = DICOMTag(0x0008, 0x0016)
    static let sopInstanceUID = DICOMTag(0x0008, 0x0018)
    static let modality = DICOMTag(0x0008, 0x0060)
    static let seriesDescription = DICOMTag(0x0008, 0x103E)
    static let patientID = DICOMTag(0x0010, 0x0020)
    static let sliceThickness = DICOMTag(0x0018, 0x0050)
    static let gantryDetectorTilt = DICOMTag(0x0018, 0x1120)
    static let studyInstanceUID = DICOMTag(0x0020, 0x000D)
    static let seriesInstanceUID = DICOMTag(0x0020, 0x000E)
    static let seriesNumber = DICOMTag(0x0020, 0x0011)
    static let instanceNumber = DICOMTag(0x0020, 0x0013)
    static let imagePositionPatient = DICOMTag(0x0020, 0x0032)
    static let imageOrientationPatient = DICOMTag(0x0020, 0x0037)
    static let frameOfReferenceUID = DICOMTag(0x0020, 0x0052)
    static let samplesPerPixel = DICOMTag(0x0028, 0x0002)
    static let photometricInterpretation = DICOMTag(0x0028, 0x0004)
    static let numberOfFrames = DICOMTag(0x0028, 0x0008)
    static let rows = DICOMTag(0x0028, 0x0010)
    static let columns = DICOMTag(0x0028, 0x0011)
    static let pixelSpacing = DICOMTag(0x0028, 0x0030)
    static let bitsAllocated = DICOMTag(0x0028, 0x0100)
    static let bitsStored = DICOMTag(0x0028, 0x0101)
    static let pixelRepresentation = DICOMTag(0x0028, 0x0103)
    static let rescaleIntercept = DICOMTag(0x0028, 0x1052)
    static let rescaleSlope = DICOMTag(0x0028, 0x1053)
    static let pixelData = DICOMTag(0x7FE0, 0x0010)
    // Enhanced (multi-frame) objects: functional groups shared by all frames and per frame.
    static let sharedFunctionalGroups = DICOMTag(0x5200, 0x9229)
    static let perFrameFunctionalGroups = DICOMTag(0x5200, 0x9230)
    static let planePositionSequence = DICOMTag(0x0020, 0x9113)
    static let planeOrientationSequence = DICOMTag(0x0020, 0x9116)
    static let pixelMeasuresSequence = DICOMTag(0x0028, 0x9110)
    static let pixelValueTransformationSequence = DICOMTag(0x0028, 0x9145)
    // Segmentation objects.
    static let segmentSequence = DICOMTag(0x0062, 0x0002)
    static let segmentNumber = DICOMTag(0x0062, 0x0004)
    static let segmentLabel = DICOMTag(0x0062, 0x0005)
    static let segmentationType = DICOMTag(0x0062, 0x0001)
    static let segmentIdentificationSequence = DICOMTag(0x0062, 0x000A)
    static let referencedSegmentNumber = DICOMTag(0x0062, 0x000B)
    static let referencedSeriesSequence = DICOMTag(0x0008, 0x1115)
    static let referencedInstanceSequence = DICOMTag(0x0008, 0x114A)
    static let referencedSOPInstanceUID = DICOMTag(0x0008, 0x1155)
}

/// One step of a path into a dataset: a sequence's tag and which of its items to enter.
struct DICOMItemStep {
    let sequence: DICOMTag
    let item: Int
}

/// An open DICOM file (DCMTK's reading of it, through CDICOM). Values are read as DICOM stores
/// them, as text; the typed accessors below turn them into numbers and name the element on error.
final class DICOMFile {
    let url: URL
    private let handle: OpaquePointer

    /// Opens `url`; throws `notDICOM` naming the file when DCMTK cannot read it.
    init(_ url: URL) throws {
        self.url = url
        var message = [CChar](repeating: 0, count: 512)
        var opened: OpaquePointer?
        guard vs_dicom_open(url.path, &opened, &message, message.count) == 0, let opened else {
            throw DICOMError.notDICOM(path: url.path, reason: String(cString: message))
        }
        handle = opened
    }

    deinit { vs_dicom_close(handle) }

    /// The element's value as text (multi-valued elements joined by backslashes), or nil when absent.
    func string(_ tag: DICOMTag, in steps: [DICOMItemStep] = []) -> String? {
        let (tags, items) = Self.path(tag, in: steps)
        let length = vs_dicom_string(handle, tags, items, Int32(tags.count), nil, 0)
        guard length >= 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: length + 1)
        _ = vs_dicom_string(handle, tags, items, Int32(tags.count), &buffer, buffer.count)
        return String(cString: buffer).trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\0")))
    }

    /// Whether the element is present, without reading its value.
    func has(_ tag: DICOMTag, in steps: [DICOMItemStep] = []) -> Bool {
        let (tags, items) = Self.path(tag, in: steps)
        return vs_dicom_has(handle, tags, items, Int32(tags.count)) != 0
    }

    /// The number of items of a sequence, or nil when it is absent.
    func itemCount(_ sequence: DICOMTag, in steps: [DICOMItemStep] = []) -> Int? {
        let (tags, items) = Self.path(sequence, in: steps)
        let count = vs_dicom_item_count(handle, tags, items, Int32(tags.count))
        return count >= 0 ? count : nil
    }

    /// The C bridge's form of a path: the tags, and the item to enter in each (the last unused).
    private static func path(_ tag: DICOMTag, in steps: [DICOMItemStep]) -> (tags: [UInt32], items: [UInt32]) {
        (steps.map(\.sequence.packed) + [tag.packed], steps.map { UInt32($0.item) } + [0])
    }

    /// Whether the Per-frame Functional Groups Sequence has one item for each of `frames` frames,
    /// as an enhanced (multi-frame) object must.
    func hasPerFrameGroups(frames: Int) -> Bool {
        itemCount(.perFrameFunctionalGroups) == frames
    }

    /// The path to functional group `sequence` of frame `frame` (0-based) that holds `tag`: the
    /// frame's own item of the Per-frame Functional Groups Sequence, else the Shared one, as the
    /// standard orders them; nil when neither has it.
    func functionalGroup(_ sequence: DICOMTag, holding tag: DICOMTag, frame: Int) -> [DICOMItemStep]? {
        for outer in [DICOMItemStep(sequence: .perFrameFunctionalGroups, item: frame), DICOMItemStep(sequence: .sharedFunctionalGroups, item: 0)] {
            let steps = [outer, DICOMItemStep(sequence: sequence, item: 0)]
            if string(tag, in: steps) != nil { return steps }
        }
        return nil
    }

    /// The element's numbers (DS, IS, US, ...), or nil when absent or empty. Throws when a value
    /// is not a number, naming the element.
    func numbers(_ tag: DICOMTag, in steps: [DICOMItemStep] = []) throws -> [Double]? {
        guard let text = string(tag, in: steps), !text.isEmpty else { return nil }
        return try text.split(separator: "\\", omittingEmptySubsequences: false).map { part in
            guard let value = Double(part.trimmingCharacters(in: .whitespaces)), value.isFinite else {
                throw DICOMError.badElement(path: url.path, tag: tag, value: text, reason: "not a number")
            }
            return value
        }
    }

    /// One number, or nil when absent.
    func number(_ tag: DICOMTag, in steps: [DICOMItemStep] = []) throws -> Double? {
        try numbers(tag, in: steps)?.first
    }

    /// A number that must be there with `count` values; throws naming the element otherwise.
    func required(_ tag: DICOMTag, count: Int, in steps: [DICOMItemStep] = [], what: String) throws -> [Double] {
        guard let values = try numbers(tag, in: steps) else {
            throw DICOMError.badElement(path: url.path, tag: tag, value: "", reason: "\(what) is missing")
        }
        guard values.count == count else {
            throw DICOMError.badElement(path: url.path, tag: tag, value: values.map { "\($0)" }.joined(separator: "\\"),
                                        reason: "\(what) needs \(count) values")
        }
        return values
    }

    /// The UID of the transfer syntax the file is stored in.
    var transferSyntaxUID: String {
        var uid = [CChar](repeating: 0, count: 128)
        vs_dicom_transfer_syntax(handle, &uid, uid.count)
        return String(cString: uid)
    }

    /// Pixel Data decoded to native samples (every frame), lent from DCMTK's memory for `body`.
    func withPixelBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) throws -> Result {
        var message = [CChar](repeating: 0, count: 512)
        var data: UnsafePointer<UInt8>?
        var count = 0
        guard vs_dicom_pixels(handle, &data, &count, &message, message.count) == 0, let data else {
            throw DICOMError.undecodablePixels(path: url.path, reason: String(cString: message))
        }
        return try body(UnsafeBufferPointer(start: data, count: count))
    }

    /// True when the file starts with DICOM's 128-byte preamble and "DICM" (Part 10): cheap to
    /// ask of every file in a folder before any is parsed.
    static func hasPart10Marker(_ url: URL) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 132), head.count == 132 else { return false }
        return head[128..<132].elementsEqual("DICM".utf8)
    }
}
