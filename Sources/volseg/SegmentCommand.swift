import ArgumentParser
import Foundation
import VolSegCore
import VolSegDistributed
import VolSegIO
import VolSegInference
import VolSegNNUNet

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Segment a volume or every case of a dataset.",
        discussion: """
            -i SERIES_DIR [SERIES_DIR ...]: DICOM series (one per channel, on one geometry; --series UID \
            picks one of a folder's series) read as dcm2niix reads them; -o OUT.nii.gz, or --output-type \
            dicom-seg -o OUT.dcm for a DICOM Segmentation referencing the series. \
            -i FILE [FILE ...] -o OUT.nii.gz: the files are the channels, in the model's modality order \
            (BraTS: T1, T1ce, T2, FLAIR). -i CASE_DIR: the case folder's files are matched to the \
            modalities by name. -i DATASET_DIR -o OUT_DIR: every case of a detected layout (BraTS, \
            MSD, LiTS, nnU-Net raw), written as OUT_DIR/<case id>.nii.gz. The label map is uint8 on \
            the input's grid with its geometry. Mirroring test-time augmentation is off by default \
            on the CPU (8 times the work); --tta turns it on. nnU-Net spellings are accepted: \
            -step_size, --disable_tta, --continue_prediction.
            """)

    @Option(name: [.customShort("i"), .customLong("input")], parsing: .upToNextOption,
            help: "DICOM series folders, channel files in the model's modality order, a case folder, or a dataset folder (detected in that order: DICOM, dataset, case folder, files).")
    var input: [String] = []

    @Option(name: [.customShort("o"), .customLong("output")], help: "Output label map (.nii.gz), or a folder for a dataset.")
    var output: String

    @Option(name: [.customShort("m"), .long],
            help: "The model: a VolSeg checkpoint (.h5) with its config, an nnU-Net v2 trained-model folder, or stunet[-s|-b|-l|-h] with --weights.")
    var model: String?

    @Option(name: .long, help: "With -m stunet[-s|-b|-l|-h]: an STU-Net / nnU-Net v1 .model file, its plans in FILE.model.pkl beside it.")
    var weights: String?

    @OptionGroup var nnunet: NNUNetSegmentOptions

    @Option(name: [.customLong("step"), .customLong("step_size", withSingleDash: true), .customLong("step_size")],
            help: "Window step as a share of the patch, in (0, 1].")
    var step: Double = 0.5

    @Flag(name: .customLong("tta"), help: "Mirroring test-time augmentation: average over the 8 flips (8x the time).")
    var tta = false

    @Flag(name: .customLong("disable_tta"), help: "No mirroring (the default; accepted for nnU-Net users).")
    var disableTTA = false

    @Option(name: .customLong("output-type"),
            help: "nifti: a label map (.nii.gz) on the input's grid; dicom-seg: a DICOM Segmentation (-o OUT.dcm) referencing the input DICOM series.")
    var outputType: SegmentOutputType = .nifti

    @Option(name: .long, help: "A DICOM folder with several series: the SeriesInstanceUID to read; repeat it to take several series of one folder as the channels.")
    var series: [String] = []

    @Option(name: .long, help: "Also write the class (or region) probabilities as a 4D float NIfTI here.")
    var probabilities: String?

    @Option(name: .long, help: "Post-processing: lits (largest liver component, holes filled, tumour only inside the liver); nnunet (an nnU-Net model's postprocessing.pkl).")
    var postprocess: Postprocessing?

    @Flag(name: [.customLong("continue"), .customLong("continue_prediction")],
          help: "Dataset mode: skip cases whose output exists.")
    var resume = false

    @Option(name: [.customLong("num-parts"), .customLong("num_parts", withSingleDash: true)],
            help: "Dataset mode: split the sorted case list into this many parts (nnU-Net's -num_parts); default: the MPI ranks under mpirun/srun, a Slurm array's tasks, else 1.")
    var numParts: Int?

    @Option(name: [.customLong("part-id"), .customLong("part_id", withSingleDash: true)],
            help: "Dataset mode: the part this process segments, 0..<num-parts: every num-parts-th case from this one on.")
    var partID: Int?

    @Flag(name: .customLong("plan-memory"),
          help: "Print the memory ledger's peak for this run and the predicted process peak (planned: the network does no arithmetic) and write nothing.")
    var planMemory = false

    @Option(name: .customLong("memory-budget"),
            help: "Refuse a case whose memory ledger peak (model, image and the run's peak) would exceed this, e.g. 8GiB: each case is planned first (its preprocessing runs twice).",
            transform: MemorySize.argument)
    var memoryBudget: MemorySize?

    @OptionGroup var precision: PrecisionOption

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if input.isEmpty { throw ValidationError("give the input with -i FILE [FILE ...], -i CASE_DIR or -i DATASET_DIR") }
        if model == nil && nnunet.dataset == nil {
            throw ValidationError("give the model with -m MODEL (a .h5 checkpoint or an nnU-Net model folder) or -d DATASET -c CONFIG")
        }
        if model != nil && nnunet.dataset != nil { throw ValidationError("-m and -d both name a model; give one") }
        if weights != nil && !(model?.lowercased().hasPrefix("stunet") ?? false) {
            throw ValidationError("--weights FILE.model goes with -m stunet, stunet-s, stunet-b, stunet-l or stunet-h")
        }
        if let model, weights == nil, ["stunet", "stunet-s", "stunet-b", "stunet-l", "stunet-h"].contains(model.lowercased()),
           !FileManager.default.fileExists(atPath: model) {
            throw ValidationError("-m \(model) names an architecture; give its weights with --weights FILE.model")
        }
        if !(step > 0 && step <= 1) { throw ValidationError("--step must be in (0, 1], got \(step)") }
        if tta && disableTTA { throw ValidationError("--tta and --disable_tta contradict each other") }
    }

    func run() throws {
        try precision.run { try segment() }
    }

    private func segment() throws {
        common.apply(ranks: try DistributedLaunch.group())
        if let folder = try nnunet.modelFolder(model: model) {
            return try runNNUNet(folder)
        }
        try nnunet.refuseWithoutNNUNetModel()
        if postprocess == .nnunet {
            throw ValidationError("--postprocess nnunet applies nnU-Net's postprocessing.pkl to an nnU-Net model folder's output; -m names a VolSeg checkpoint")
        }
        guard let model else { return }
        let bundle = try weights.map { try STUNetCheckpoint.bundle(model: model, weights: URL(fileURLWithPath: $0)) }
            ?? ModelBundle.load(URL(fileURLWithPath: model))
        let options = SegmenterOptions(step: step, mirroring: tta, keepProbabilities: probabilities != nil,
                                       postprocessing: postprocess)
        let segmenter = Segmenter(bundle: bundle, options: options)
        let progress = ProgressDisplay(common)
        if let folders = try dicomSeriesFolders() {
            return try runDICOM(folders, segmenter: segmenter, progress: progress)
        }
        try refuseDICOMOptions()
        let first = URL(fileURLWithPath: input[0])
        if input.count == 1, isFolder(first) {
            if let layout = try? DatasetDetector.detect(first), !layout.scan().cases.isEmpty {
                return try runDataset(layout, segmenter: segmenter, progress: progress)
            }
            let found = try SegmenterInput.caseFiles(in: first, modalities: bundle.config.modalities)
            let out = isNIfTIName(output) ? URL(fileURLWithPath: output)
                : Segmenter.outputURL(for: found.id, in: URL(fileURLWithPath: output))
            if !isNIfTIName(output) {
                try OutputCheck.refuseFolder(URL(fileURLWithPath: output), sameAs: first)
                try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            }
            return try runImage(found.files, output: out, segmenter: segmenter, progress: progress)
        }
        guard isNIfTIName(output) else {
            throw ValidationError("-o \(output): name the output label map (.nii.gz or .nii) when -i gives files")
        }
        try runImage(input.map { URL(fileURLWithPath: $0) }, output: URL(fileURLWithPath: output),
                     segmenter: segmenter, progress: progress)
    }

    /// One image: check where the outputs go (writable folders, never an input), read and check
    /// every channel, then compute, then write (probabilities first, the label map last; nothing is
    /// left behind on an error).
    func runImage(_ files: [URL], output: URL, segmenter: Segmenter, progress: ProgressDisplay) throws {
        try runImage(inputs: files, output: output, segmenter: segmenter, progress: progress,
                     load: { try SegmenterInput.readChannels(files, modalities: segmenter.bundle.config.modalities) },
                     writeLabels: { labels, image in try NIfTIWriter.writeLabelMap(labels, like: image.header, to: output) })
    }

    /// One image from `load` (channel files, DICOM series), its label map written by `writeLabels`
    /// (NIfTI, or a DICOM Segmentation), `inputs` never overwritten.
    func runImage(inputs files: [URL], output: URL, segmenter: Segmenter, progress: ProgressDisplay,
                  load: () throws -> NIfTIVolume, writeLabels: (Tensor, NIfTIVolume) throws -> Void) throws {
        try refuseParts()
        let probabilitiesURL = probabilities.map { URL(fileURLWithPath: $0) }
        let outputs = [output] + (probabilitiesURL.map { [$0] } ?? [])
        for url in outputs {
            let folder = url.deletingLastPathComponent()
            guard FileManager.default.isWritableFile(atPath: folder.path) else {
                throw SegmentationInputError.outputNotWritable(path: url.path, folder: folder.path)
            }
            let modelFiles = [weights.map { $0 + ".pkl" }, weights ?? model].compactMap { $0 }.map { URL(fileURLWithPath: $0) }
            try OutputCheck.refuseOverwriting(files + modelFiles, with: url)
            AtomicFile.removeStaleTemporaries(in: folder)
        }
        if let probabilitiesURL, probabilitiesURL.standardizedFileURL == output.standardizedFileURL {
            throw ValidationError("--probabilities \(probabilitiesURL.path) is also the label map's path; name another file")
        }
        FaultPoint.reached("segment.loading")
        let image = try load()
        if planMemory || memoryBudget != nil {
            let loaded = MemoryLedger.shared.currentBytes
            let (plan, peak) = try MemoryLedger.shared.measurePeak {
                let plan = try segmenter.segment(image, planned: true)
                NIfTIWriter.planLabelMapWrite(plan.labels, largestLabel: segmenter.bundle.config.output.largestLabel)
                return plan
            }
            let what = "\(image.voxels.shape) (network grid \(plan.networkGrid), \(plan.windowCount) windows of \(segmenter.bundle.inference().window))"
            if planMemory { return printPlannedMemory(what, loaded: loaded, peak: peak) }
            try checkBudget(image.path, loaded: loaded, peak: peak)
        }
        let started = Date()
        let (result, peak) = try MemoryLedger.shared.measurePeak {
            try segmenter.segment(image) { done, total in
                progress.show("\(output.lastPathComponent): window \(done)/\(total)", final: done == total)
            }
        }
        progress.clear()
        if result.replacedNonFinite > 0 {
            warn("warning: \(image.path): \(result.replacedNonFinite) NaN or infinite voxels were read as 0")
        }
        for warning in image.warnings { warn("\(warning)") }
        if let probabilitiesURL, let values = result.probabilities {
            try NIfTIWriter.writeFloatMap(values, like: image.header, to: probabilitiesURL)
        }
        do {
            try writeLabels(result.labels, image)
        } catch {
            if let probabilitiesURL { try? FileManager.default.removeItem(at: probabilitiesURL) }
            throw error
        }
        if !common.quiet {
            print("wrote \(output.path) (\(result.windowCount) windows, \(String(format: "%.1f", Date().timeIntervalSince(started))) s, "
                  + "memory ledger peak \(String(format: "%.1f", Double(peak) / 1_048_576)) MiB)"
                  + (probabilitiesURL.map { "; probabilities \($0.path)" } ?? ""))
        }
    }

    /// Every case of a layout into the output folder; failures are listed and make the exit non-zero.
    func runDataset(_ layout: any DatasetLayout, segmenter: Segmenter, progress: ProgressDisplay) throws {
        if isNIfTIName(output) {
            throw ValidationError("-o \(output): a dataset is written to a folder, one <case id>.nii.gz per case")
        }
        if probabilities != nil { throw ValidationError("--probabilities writes one file; use it with a single image") }
        if planMemory { throw ValidationError("--plan-memory takes a single image or case folder") }
        let folder = URL(fileURLWithPath: output)
        let part = try datasetPart()
        if !part.isWhole && !common.quiet { print("segmenting \(part) of the cases") }
        let report = try segmenter.segmentDataset(layout, into: folder, skipExisting: resume, part: part, log: { line in
            progress.clear()
            if line.hasPrefix("warning") || line.hasPrefix("error") { warn(line) } else if !common.quiet { print(line) }
        }, progress: { n, count, id, done, total in
            progress.show("case \(n)/\(count) \(id): window \(done)/\(total)", final: done == total)
        })
        progress.clear()
        if !common.quiet {
            print("\(layout.layoutName) dataset: \(report.written.count) written, \(report.skipped.count) skipped, "
                  + "\(report.failed.count) failed -> \(folder.path)")
        }
        if !report.failed.isEmpty {
            warn("failed: " + report.failed.map(\.id).joined(separator: ", "))
            throw ExitCode(1)
        }
    }

    /// The share of a dataset's cases this process segments: the flags, the MPI rank, a Slurm
    /// array task (`WorkPart.resolve`).
    func datasetPart() throws -> WorkPart {
        try WorkPart.resolve(count: numParts, index: partID, group: try DistributedLaunch.group())
    }

    /// --num-parts and --part-id split a dataset; a single image has nothing to split.
    func refuseParts() throws {
        if numParts != nil || partID != nil {
            throw ValidationError("--num-parts/--part-id split a dataset's cases (-i DATASET_DIR -o OUT_DIR); -i names one image here")
        }
    }

    /// `--plan-memory`'s answer: the ledger's peak above what is loaded, and the process peak
    /// `top` would show: the loaded image and model, that peak, and the memory outside the ledger
    /// (runtime, libraries, thread stacks, per-slice scratch).
    func printPlannedMemory(_ what: String, loaded: Int, peak: Int) {
        let process = loaded + peak + ResourceUsage.runtimeReserveBytes
        print("memory ledger peak for \(what): \(peak) bytes (\(String(format: "%.1f", Double(peak) / 1_048_576)) MiB) above the loaded image")
        print("predicted process peak \(MemorySize.describe(process)): loaded image and model \(MemorySize.format(loaded)) "
              + "+ ledger peak \(MemorySize.format(peak)) + reserve \(MemorySize.format(ResourceUsage.runtimeReserveBytes))")
    }

    /// Refuses a case whose planned ledger peak exceeds --memory-budget, before any real work.
    func checkBudget(_ path: String, loaded: Int, peak: Int, hint: String = "") throws {
        guard let memoryBudget, loaded + peak > memoryBudget.bytes else { return }
        throw ValidationError("\(path): segmenting needs \(MemorySize.format(loaded + peak)) (model and image \(MemorySize.format(loaded)) "
                              + "+ the run's ledger peak \(MemorySize.format(peak))), more than --memory-budget \(memoryBudget)\(hint)")
    }

    func isFolder(_ url: URL) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &flag) && flag.boolValue
    }

    func isNIfTIName(_ path: String) -> Bool { path.hasSuffix(".nii.gz") || path.hasSuffix(".nii") }

    func warn(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}
