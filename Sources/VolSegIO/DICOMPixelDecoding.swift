import Foundation
import VolSegCore

/// Stored DICOM samples to the values a scan means: the stored bits masked to BitsStored (and
/// sign-extended when PixelRepresentation says signed), MONOCHROME1 inverted so that larger still
/// means brighter, then RescaleSlope and RescaleIntercept applied (CT in Hounsfield units).
public enum DICOMPixelDecoding {
    /// Every file of a series stores its samples the same way; a series that mixes them is
    /// refused naming the file (it would mix two scales in one volume).
    static func requireSameStorage(_ file: DICOMImageFile, as first: DICOMImageFile) throws {
        let these = [file.bitsAllocated, file.bitsStored, file.isSigned ? 1 : 0]
        let those = [first.bitsAllocated, first.bitsStored, first.isSigned ? 1 : 0]
        if these != those || file.photometricInterpretation != first.photometricInterpretation {
            throw DICOMError.unsupportedPixels(
                path: file.url.path,
                reason: "\(file.photometricInterpretation) with \(file.bitsStored) of \(file.bitsAllocated) bits stored"
                    + " where \(first.url.lastPathComponent) has \(first.photometricInterpretation) with \(first.bitsStored) of "
                    + "\(first.bitsAllocated): one series must store its pixels one way")
        }
    }

    /// Decodes every plane into `voxels` ([1, planes, rows, columns], rows reversed as
    /// `DICOMGeometry.affine` says), one file per task on every
    /// core: a file's frames go to the slices its planes take.
    static func fill(_ voxels: Tensor, planes: [DICOMImagePlane], files: [DICOMImageFile]) throws {
        let storage = Dictionary(uniqueKeysWithValues: files.map { ($0.url, $0) })
        var slicesOfFile: [URL: [(slice: Int, plane: DICOMImagePlane)]] = [:]
        for (slice, plane) in planes.enumerated() { slicesOfFile[plane.file, default: []].append((slice, plane)) }
        let work = Array(slicesOfFile)
        let planeSize = planes[0].rows * planes[0].columns
        let output = voxels.data
        var failures = [Error?](repeating: nil, count: work.count)
        failures.withUnsafeMutableBufferPointer { failures in
            let failures = failures
            Parallel.forEach(work.count) { index in
                let (url, slices) = work[index]
                do {
                    let file = try DICOMFile(url)
                    try decode(file, storage: storage[url]!, slices: slices, planeSize: planeSize, into: output)
                } catch {
                    failures[index] = error
                }
            }
        }
        if let failure = failures.compactMap({ $0 }).first { throw failure }
    }

    static func decode(_ file: DICOMFile, storage: DICOMImageFile, slices: [(slice: Int, plane: DICOMImagePlane)],
                       planeSize: Int, into output: UnsafeMutablePointer<Float>) throws {
        let bytesPerSample = storage.bitsAllocated / 8
        let frames = storage.planes.count
        try file.withPixelBytes { bytes in
            guard bytes.count >= frames * planeSize * bytesPerSample else {
                throw DICOMError.unsupportedPixels(path: file.url.path, reason: "Pixel Data holds \(bytes.count) bytes where "
                                                   + "\(frames) frame(s) of \(planeSize) \(storage.bitsAllocated)-bit samples need \(frames * planeSize * bytesPerSample)")
            }
            let sample = sampleReader(storage)
            for (slice, plane) in slices {
                let target = output + slice * planeSize
                let first = plane.frame * planeSize
                let slope = plane.rescaleSlope, intercept = plane.rescaleIntercept
                let rows = plane.rows, columns = plane.columns
                for row in 0..<rows {
                    let line = target + DICOMGeometry.voxelIndex(row: row, column: 0, rows: rows, columns: columns)
                    for column in 0..<columns {
                        line[column] = Float(Double(sample(bytes, first + row * columns + column)) * slope + intercept)
                    }
                }
            }
        }
    }

    /// The stored value of sample `index`, masked, sign-extended and (MONOCHROME1) inverted.
    static func sampleReader(_ storage: DICOMImageFile) -> (UnsafeBufferPointer<UInt8>, Int) -> Int64 {
        let bits = storage.bitsStored, signed = storage.isSigned
        let mask: UInt64 = bits >= 64 ? .max : (UInt64(1) << UInt64(bits)) - 1
        let invert = storage.photometricInterpretation == "MONOCHROME1"
        let width = storage.bitsAllocated / 8
        return { bytes, index in
            var raw: UInt64 = 0
            let start = index * width
            for b in 0..<width { raw |= UInt64(bytes[start + b]) << UInt64(8 * b) }   // native = little-endian
            raw &= mask
            var value: Int64
            if signed && bits < 64 && raw & (UInt64(1) << UInt64(bits - 1)) != 0 {
                value = Int64(bitPattern: raw | ~mask)
            } else {
                value = Int64(bitPattern: raw)
            }
            if invert { value = monochrome1Inverted(value, bitsStored: bits, signed: signed) }
            return value
        }
    }

    /// MONOCHROME1 shows the smallest value white. Inverting within the stored range
    /// (2^BitsStored - 1 - v unsigned, -1 - v signed) keeps every value an integer in range.
    static func monochrome1Inverted(_ value: Int64, bitsStored: Int, signed: Bool) -> Int64 {
        signed ? -1 - value : (Int64(1) << Int64(bitsStored)) - 1 - value
    }
}
