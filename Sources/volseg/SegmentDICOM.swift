import ArgumentParser
import Foundation
import VolSegCore
import VolSegIO
import VolSegInference
import VolSegNNUNet

/// What `volseg segment` writes the label map as.
enum SegmentOutputType: String, ExpressibleByArgument, CaseIterable {
    /// A uint8/uint16 NIfTI label map on the input's grid (the default).
    case nifti
    /// A binary DICOM Segmentation referencing the source series (a DICOM input only).
    case dicomSeg = "dicom-seg"
}

/// `volseg segment -i SERIES_DIR [-i SERIES_DIR ...]`: DICOM series as the channels, the label map
/// written as NIfTI on the series' grid (dcm2niix's geometry) or as a DICOM Segmentation.
///
/// What -i names is detected in this order: DICOM series folders (every -i a folder with DICOM
/// files directly inside), then a dataset folder (a detected layout), then a case folder, then
/// channel files; the log says which.
extension SegmentCommand {
    /// The -i folders when they are DICOM series folders; nil when none is. A mix of DICOM and
    /// other inputs is refused.
    func dicomSeriesFolders() throws -> [URL]? {
        let urls = input.map { URL(fileURLWithPath: $0) }
        let dicom = urls.map { isFolder($0) && DICOMSeriesReader.isSeriesFolder($0) }
        guard dicom.contains(true) else { return nil }
        if let other = zip(urls, dicom).first(where: { !$0.1 })?.0 {
            throw ValidationError("-i \(other.path) is not a DICOM series folder, but other -i are: give the channels all as DICOM series or all as NIfTI files")
        }
        return urls
    }

    /// --output-type dicom-seg and --series need a DICOM input.
    func refuseDICOMOptions() throws {
        if outputType == .dicomSeg {
            throw ValidationError("--output-type dicom-seg writes a DICOM Segmentation of a DICOM series; -i \(input[0]) is not a DICOM series folder (a NIfTI input has no DICOM instances to reference)")
        }
        if !series.isEmpty { throw ValidationError("--series chooses a series of a DICOM folder; -i \(input[0]) is not one") }
    }

    /// The (folder, series UID) of each channel: one folder and several --series (channels from
    /// one folder), or a --series per folder, or none (each folder's only series).
    func dicomChannels(_ folders: [URL]) throws -> (folders: [URL], seriesUIDs: [String?]) {
        if series.isEmpty { return (folders, folders.map { _ in nil }) }
        if folders.count == 1 { return (series.map { _ in folders[0] }, series) }
        guard series.count == folders.count else {
            throw ValidationError("--series was given \(series.count) time(s) for \(folders.count) -i folders: give one per folder, or several with one folder")
        }
        return (folders, series)
    }

    /// Where the label map goes: -o OUT.dcm for a Segmentation, -o OUT.nii.gz otherwise.
    func dicomOutput() throws -> URL {
        switch outputType {
        case .dicomSeg:
            guard output.lowercased().hasSuffix(".dcm") else {
                throw ValidationError("-o \(output): name the DICOM Segmentation file (OUT.dcm) with --output-type dicom-seg")
            }
        case .nifti:
            guard isNIfTIName(output) else {
                throw ValidationError("-o \(output): name the output label map (.nii.gz or .nii), or write a DICOM Segmentation with --output-type dicom-seg -o OUT.dcm")
            }
        }
        return URL(fileURLWithPath: output)
    }

    func logDICOMInput(_ series: [DICOMSeriesVolume]) {
        guard !common.quiet else { return }
        for (c, s) in series.enumerated() {
            let plane = s.planes[0]
            print("input channel \(c): DICOM series folder \(s.folder.path), series \(s.firstFile.seriesInstanceUID) (\(s.firstFile.modality), "
                  + "\(s.planes.count) slices of \(plane.rows) x \(plane.columns), step \(String(format: "%.4g", s.sliceStep)) mm)")
        }
    }

    func writeDICOMLabels(_ labels: Tensor, image: NIfTIVolume, series: DICOMSeriesVolume, labelValues: [Int],
                          names: [Int: String], output: URL) throws {
        switch outputType {
        case .nifti: try NIfTIWriter.writeLabelMap(labels, like: image.header, to: output)
        case .dicomSeg:
            try DICOMSegmentationWriter.write(labels, labelValues: labelValues, names: names, series: series,
                                              softwareVersion: VolSegVersion.string, to: output)
        }
    }

    /// A VolSeg checkpoint on DICOM series.
    func runDICOM(_ folders: [URL], segmenter: Segmenter, progress: ProgressDisplay) throws {
        let output = try dicomOutput()
        let channels = try dicomChannels(folders)
        let modalities = segmenter.bundle.config.modalities
        guard channels.folders.count == modalities.count else {
            throw ValidationError("the model takes \(modalities.count) channel(s) (\(modalities.joined(separator: ", "))); -i and --series give \(channels.folders.count) DICOM series")
        }
        var read: [DICOMSeriesVolume] = []
        let names = segmenter.bundle.config.labelConvention?.labels ?? [:]
        try runImage(inputs: folders, output: output, segmenter: segmenter, progress: progress, load: {
            let (volume, series) = try DICOMSeriesReader.readChannels(channels.folders, seriesUIDs: channels.seriesUIDs)
            read = series
            logDICOMInput(series)
            return volume
        }, writeLabels: { labels, image in
            try writeDICOMLabels(labels, image: image, series: read[0], labelValues: segmenter.bundle.config.output.labelValues,
                                 names: names, output: output)
        })
    }

    /// An nnU-Net model folder on DICOM series: the series stacked as the case's channels.
    func runNNUNetDICOM(_ folders: [URL], predictor: NNUNetPredictor, progress: ProgressDisplay) throws {
        try refuseParts()
        let output = try dicomOutput()
        let channels = try dicomChannels(folders)
        let model = predictor.model
        guard channels.folders.count == model.labels.inputChannelCount else {
            throw ValidationError("the model takes \(model.labels.inputChannelCount) channel(s); -i and --series give \(channels.folders.count) DICOM series")
        }
        if outputType == .nifti {
            let outputs = NNUNetOutputs(labelMap: output, saveProbabilities: nnunet.saveProbabilities,
                                        probabilitiesNIfTI: probabilities.map { URL(fileURLWithPath: $0) })
            try outputs.check(inputs: folders)
        } else {
            if nnunet.saveProbabilities || probabilities != nil {
                throw ValidationError("--save_probabilities and --probabilities go with a NIfTI output; --output-type dicom-seg writes the label map only")
            }
            try OutputCheck.refuseOverwriting(folders, with: output)
            guard FileManager.default.isWritableFile(atPath: output.deletingLastPathComponent().path) else {
                throw SegmentationInputError.outputNotWritable(path: output.path, folder: output.deletingLastPathComponent().path)
            }
        }
        let (volume, series) = try DICOMSeriesReader.readChannels(channels.folders, seriesUIDs: channels.seriesUIDs)
        logDICOMInput(series)
        let name = output.deletingPathExtension().lastPathComponent
        let item = NNUNetCase(name: NIfTIFileName.stem(output.lastPathComponent) ?? name, files: folders, image: volume)
        if outputType == .nifti {
            return try runNNUNetCase(item, predictor: predictor, output: output, progress: progress, label: output.lastPathComponent)
        }
        if planMemory { throw ValidationError("--plan-memory: plan with the NIfTI output (drop --output-type dicom-seg)") }
        if memoryBudget != nil {
            // The NIfTI label map's plan: the SEG's frames are made from the same label map.
            let loaded = MemoryLedger.shared.currentBytes
            let peak = try predictor.plannedPeak(item, outputs: NNUNetOutputs(labelMap: output, saveProbabilities: false, probabilitiesNIfTI: nil))
            try checkBudget(folders[0].path, loaded: loaded, peak: peak)
        }
        let started = Date()
        let prediction = try predictor.predict(item, probabilities: false) { done, total in
            progress.show("\(output.lastPathComponent): window \(done)/\(total)", final: done == total)
        }
        progress.clear()
        try writeDICOMLabels(prediction.labels, image: volume, series: series[0], labelValues: model.labels.output.labelValues,
                             names: model.labels.labelNames, output: output)
        if !common.quiet { print("wrote \(output.path) (\(String(format: "%.1f", Date().timeIntervalSince(started))) s)") }
    }
}
