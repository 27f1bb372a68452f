import ArgumentParser
import Foundation
import VolSegCore
import VolSegIO
import VolSegInference
import VolSegReport

struct ViewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "Write one case's viewer as a self-contained HTML page.",
        discussion: """
            The viewer of evaluate's report.html for one image: axial, coronal and sagittal planes at \
            the voxel spacing's aspect, a slider and the arrow and page keys per plane, intensity \
            windows (CT presets, MRI percentiles), the mask and the reference as outlines or filled \
            overlays with a legend and toggles, the slice of largest disagreement, and the voxel under \
            the mouse with its world coordinate and labels. The image is a NIfTI file (several for \
            several channels) or a DICOM series folder; a mask may be a DICOM Segmentation (.dcm) of it.
            """)

    @Argument(help: "The image: NIfTI channel files, or a DICOM series folder.")
    var images: [String]

    @Option(name: .long, help: "A label map (prediction) on the image's grid, NIfTI or a DICOM Segmentation.")
    var mask: String?

    @Option(name: .long, help: "A reference label map on the image's grid.")
    var ref: String?

    @Option(name: [.customShort("o"), .long], help: "The page to write (.html).")
    var output: String

    @Option(name: .long, help: "A DICOM folder with several series: the SeriesInstanceUID of the one to show.")
    var series: String?

    @Option(name: .customLong("max-size"), help: "The viewer's grid: at most this many voxels along each axis (default 112).")
    var maxSize: Int = ViewerVolume.defaultMaximumSize

    func validate() throws {
        if images.isEmpty { throw ValidationError("give the image: NIfTI files or a DICOM series folder") }
        if !output.lowercased().hasSuffix(".html") { throw ValidationError("-o \(output): name the page (.html)") }
        if maxSize < 8 { throw ValidationError("--max-size must be at least 8, got \(maxSize)") }
    }

    func run() throws {
        let out = URL(fileURLWithPath: output)
        let inputs = (images + [mask, ref].compactMap { $0 }).map { URL(fileURLWithPath: $0) }
        try OutputCheck.refuseOverwriting(inputs, with: out)
        try AtomicFile.checkFolder(of: out)
        let first = URL(fileURLWithPath: images[0])
        var isFolder: ObjCBool = false
        let image: NIfTIVolume, names: [String]
        if FileManager.default.fileExists(atPath: first.path, isDirectory: &isFolder), isFolder.boolValue {
            guard images.count == 1 else { throw ValidationError("give one DICOM series folder (or NIfTI channel files)") }
            let read = try DICOMSeriesReader.read(first, seriesUID: series)
            image = read.volume
            names = [read.firstFile.modality.isEmpty ? "image" : read.firstFile.modality]
        } else {
            if series != nil { throw ValidationError("--series chooses a series of a DICOM folder; \(first.path) is a file") }
            names = images.map { NIfTIFileName.stem(URL(fileURLWithPath: $0).lastPathComponent) ?? $0 }
            if images.count == 1 {
                image = try NIfTIReader.read(first)
                try image.requireThreeDimensional()
            } else {
                // Several files are the channels, read as `segment` reads them.
                image = try SegmenterInput.readChannels(images.map { URL(fileURLWithPath: $0) }, modalities: names)
            }
        }
        var layers: [(name: String, labels: NIfTIVolume)] = []
        var labelNames: [Int: String] = [:]
        if let ref { layers.append(("reference", try readLabels(URL(fileURLWithPath: ref), on: image, names: &labelNames))) }
        if let mask { layers.append(("prediction", try readLabels(URL(fileURLWithPath: mask), on: image, names: &labelNames))) }
        // CT by name, or by Hounsfield values (air at -1000) no MRI has.
        let isCT = ViewerVolume.isCT(channelNames: names)
            || UnsafeBufferPointer(start: image.voxels.data, count: image.voxels.count).contains { $0 < -500 }
        let page = try CaseViewPage.html(title: "VolSeg view: \(first.lastPathComponent)", caseName: first.lastPathComponent, header: image.header, image: image.voxels,
                                         channelNames: names, isCT: isCT, layers: layers, labelNames: labelNames, maximumSize: maxSize)
        try AtomicFile.write(Data(page.utf8), to: out)
        print("wrote \(out.path)")
    }

    /// A label map on the image's grid: NIfTI (same shape), or a DICOM Segmentation placed on the
    /// image's voxels, its segment numbers as the values and its segment labels as their names.
    func readLabels(_ url: URL, on image: NIfTIVolume, names: inout [Int: String]) throws -> NIfTIVolume {
        if url.pathExtension.lowercased() == "dcm" {
            let segmentation = try DICOMSegmentation.read(url)
            for segment in segmentation.segments where segment.number != 0 { names[segment.number] = segment.label }
            let numbers = Dictionary(uniqueKeysWithValues: segmentation.segments.map { ($0.number, $0.number) })
            let labels = try segmentation.labelMap(on: image.header, labelOfSegment: numbers)
            return NIfTIVolume(header: image.header, voxels: labels.reshaped([1] + labels.shape), path: url.path)
        }
        let labels = try NIfTIReader.read(url)
        if labels.header.spatialShape != image.header.spatialShape {
            throw NIfTIError.shapeMismatch(path: url.path, shape: labels.header.spatialShape, expected: image.header.spatialShape, reference: image.path)
        }
        return labels
    }
}
