import Foundation
import VolSegCore

/// One series found in a folder, as `volseg info` lists it and `--series` chooses it.
public struct DICOMSeriesSummary: Sendable, CustomStringConvertible {
    public let uid: String
    public let modality: String
    public let seriesNumber: Int?
    public let seriesDescription: String
    public let fileCount: Int
    public let planeCount: Int
    public let rows: Int, columns: Int

    public var description: String {
        "\(uid)  \(modality)" + (seriesNumber.map { " #\($0)" } ?? "")
            + (seriesDescription.isEmpty ? "" : " \"\(seriesDescription)\"")
            + ": \(planeCount) slices of \(rows) x \(columns) in \(fileCount) file\(fileCount == 1 ? "" : "s")"
    }
}

/// A DICOM series read as a volume: the pipeline's `NIfTIVolume` (x along a row, y down the
/// columns, z along the slice normal; RAS affine), and the ordered planes it came from, which a
/// DICOM Segmentation written for it references.
public struct DICOMSeriesVolume: @unchecked Sendable {
    public var volume: NIfTIVolume
    /// The image planes in volume order: planes[k] is slice z = k.
    public let planes: [DICOMImagePlane]
    /// The header of one file of the series (patient, study, frame of reference, modality).
    public let firstFile: DICOMImageFile
    public let sliceStep: Double
    public let folder: URL
}

/// Reads the DICOM series of a folder (its files directly inside; sub-folders are not searched,
/// so one folder is one acquisition as PACS exports and dcm2niix's per-series folders give it).
public enum DICOMSeriesReader {
    /// Whether the folder holds a DICOM file directly inside (Part 10, "DICM" after the preamble).
    /// This is the first thing `-i` is tested for, before case and dataset folders.
    public static func isSeriesFolder(_ folder: URL) -> Bool {
        candidateFiles(folder).contains { DICOMFile.hasPart10Marker($0) }
    }

    static func candidateFiles(_ folder: URL) -> [URL] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return names.map { folder.appendingPathComponent($0) }.filter {
            var isFolder: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0.path, isDirectory: &isFolder) && !isFolder.boolValue
        }
    }

    /// Every image file's header, grouped by SeriesInstanceUID, and the names of the non-image
    /// objects found beside them. Files without the DICOM marker (notes, JSON) are not DICOM and
    /// are passed over; a file with the marker that DCMTK cannot read is an error naming it.
    public static func survey(_ folder: URL) throws -> (series: [String: [DICOMImageFile]], nonImage: [String]) {
        let files = candidateFiles(folder).filter { DICOMFile.hasPart10Marker($0) }
        var results = [Result<DICOMImageFile, Error>?](repeating: nil, count: files.count)
        results.withUnsafeMutableBufferPointer { slots in
            let slots = slots
            Parallel.forEach(files.count) { index in
                slots[index] = Result { try DICOMImageFile.read(files[index]) }
            }
        }
        var series: [String: [DICOMImageFile]] = [:], nonImage: [String] = []
        for (file, result) in zip(files, results) {
            switch result! {
            case .success(let image): series[image.seriesInstanceUID, default: []].append(image)
            case .failure(DICOMError.nonImageObject(_, let sopClass)): nonImage.append("\(file.lastPathComponent) (\(sopClass))")
            case .failure(let error): throw error
            }
        }
        return (series, nonImage)
    }

    /// The series of a folder, one line each, in a stable order (series number, then UID).
    public static func summaries(_ series: [String: [DICOMImageFile]]) -> [DICOMSeriesSummary] {
        series.map { uid, files in
            DICOMSeriesSummary(uid: uid, modality: files[0].modality, seriesNumber: files[0].seriesNumber,
                               seriesDescription: files[0].seriesDescription, fileCount: files.count,
                               planeCount: files.reduce(0) { $0 + $1.planes.count },
                               rows: files[0].planes[0].rows, columns: files[0].planes[0].columns)
        }.sorted { ($0.seriesNumber ?? .max, $0.uid) < ($1.seriesNumber ?? .max, $1.uid) }
    }

    /// The folder's series as a volume: the only one, or the one `seriesUID` names. Throws the
    /// named error for an empty folder, several series without `seriesUID`, and every geometry
    /// or pixel problem (`DICOMGeometry.order`, `DICOMPixelDecoding`).
    public static func read(_ folder: URL, seriesUID: String? = nil) throws -> DICOMSeriesVolume {
        try read(folder, surveyed: try survey(folder), seriesUID: seriesUID)
    }

    /// As `read(_:seriesUID:)`, from the folder's `survey` already made.
    public static func read(_ folder: URL, surveyed: (series: [String: [DICOMImageFile]], nonImage: [String]),
                            seriesUID: String?) throws -> DICOMSeriesVolume {
        let (series, nonImage) = surveyed
        guard !series.isEmpty else { throw DICOMError.noImages(folder: folder.path, nonImage: nonImage) }
        let listed = summaries(series).map(\.description)
        let files: [DICOMImageFile]
        if let seriesUID {
            guard let chosen = series[seriesUID] else {
                throw DICOMError.unknownSeries(folder: folder.path, uid: seriesUID, series: listed)
            }
            files = chosen
        } else {
            guard series.count == 1 else { throw DICOMError.severalSeries(folder: folder.path, series: listed) }
            files = series.first!.value
        }
        let first = files[0]
        for file in files.dropFirst() {
            try DICOMPixelDecoding.requireSameStorage(file, as: first)
        }
        let (planes, step) = try DICOMGeometry.order(files.flatMap(\.planes), folder: folder.path,
                                                     gantryTilt: files.compactMap(\.gantryTilt).first { $0 != 0 },
                                                     singleSliceStep: first.sliceThickness ?? 1)
        let plane = planes[0]
        let voxels = Tensor.empty([1, planes.count, plane.rows, plane.columns])
        try DICOMPixelDecoding.fill(voxels, planes: planes, files: files)
        let header = NIfTIHeader(spatialShape: [plane.columns, plane.rows, planes.count],
                                 affine: DICOMGeometry.affine(first: plane, step: step),
                                 description: String("DICOM \(first.modality) series".prefix(79)))
        return DICOMSeriesVolume(volume: NIfTIVolume(header: header, voxels: voxels, path: folder.path),
                                 planes: planes, firstFile: first, sliceStep: step, folder: folder)
    }
}

extension DICOMSeriesReader {
    /// Several series as the channels of one image, in the order given: `folders[i]` with
    /// `seriesUIDs[i]` (nil: the folder's only series). Channels must share one geometry (shape and
    /// affine within 1e-3 mm): VolSeg does not resample one series onto another, so a mismatch is
    /// an error naming both (co-register first). Returns the stacked volume ([C, D, H, W], the
    /// first series' header) and the series, whose first is the one a Segmentation references.
    public static func readChannels(_ folders: [URL], seriesUIDs: [String?]) throws -> (volume: NIfTIVolume, series: [DICOMSeriesVolume]) {
        precondition(folders.count == seriesUIDs.count && !folders.isEmpty)
        var series: [DICOMSeriesVolume] = []
        for (folder, uid) in zip(folders, seriesUIDs) {
            let read = try self.read(folder, seriesUID: uid)
            if let first = series.first {
                let name = "\(read.folder.path) (series \(read.firstFile.seriesInstanceUID))"
                let reference = "\(first.folder.path) (series \(first.firstFile.seriesInstanceUID))"
                if read.volume.spatialShape != first.volume.spatialShape {
                    throw DICOMError.channelGeometry(path: name, reference: reference,
                                                     reason: "shape \(read.volume.header.spatialShape) vs \(first.volume.header.spatialShape)")
                }
                let difference = read.volume.affine.maxAbsoluteDifference(first.volume.affine)
                if difference > 1e-3 {
                    throw DICOMError.channelGeometry(path: name, reference: reference,
                                                     reason: String(format: "affines differ by up to %.4g mm", difference))
                }
            }
            series.append(read)
        }
        guard series.count > 1 else { return (series[0].volume, series) }
        let voxels = Tensor.empty([series.count] + series[0].volume.spatialShape)
        let size = series[0].volume.voxels.count
        for (c, s) in series.enumerated() { (voxels.data + c * size).update(from: s.volume.voxels.data, count: size) }
        return (NIfTIVolume(header: series[0].volume.header, voxels: voxels, path: series[0].folder.path), series)
    }
}
