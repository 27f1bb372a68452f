import ArgumentParser
import Foundation
import VolSegCore
import VolSegIO
import VolSegNNUNet

/// `volseg segment` with an nnU-Net v2 trained-model folder: one case (-i channel files, -o
/// OUT.nii.gz) or an nnU-Net input folder (-i IN_DIR with CASE_0000.nii.gz ..., -o OUT_DIR, outputs
/// named CASE.nii.gz, CASE.npz, CASE.pkl as nnU-Net names them).
extension SegmentCommand {
    func runNNUNet(_ folderURL: URL) throws {
        if nnunet.device != "cpu" { warn("warning: -device \(nnunet.device): VolSeg runs on the CPU") }
        let folder = try NNUNetModelFolder.open(folderURL, folds: nnunet.folds.isEmpty ? nil : nnunet.folds,
                                                checkpoint: nnunet.checkpoint)
        var predictor = NNUNetPredictor(model: folder)
        predictor.stepSize = step
        predictor.mirroring = !disableTTA
        predictor.halfPrecision = nnunet.halfPrecision
        predictor.postprocessing = try nnunet.postprocessing(postprocess, folder: folder)
        if !common.quiet {
            let axes = predictor.mirrorAxes.isEmpty
                ? (folder.mirrorAxes == nil ? "none (the checkpoint allows no mirroring)" : "off (--disable_tta)")
                : "axes \(folder.mirrorAxes!) of the network input (on by default for nnU-Net models, as nnUNetv2_predict; --disable_tta turns it off)"
            print("nnU-Net model \(folder.url.lastPathComponent): configuration \(folder.configuration.name), "
                  + "folds \(folder.folds.joined(separator: " ")), trainer \(folder.trainerName); mirroring \(axes)"
                  + (predictor.postprocessing.map { "; postprocessing \($0.source) (\($0.steps.count) largest-component step(s))" } ?? ""))
        }
        let progress = ProgressDisplay(common)
        if let folders = try dicomSeriesFolders() {
            return try runNNUNetDICOM(folders, predictor: predictor, progress: progress)
        }
        try refuseDICOMOptions()
        let first = URL(fileURLWithPath: input[0])
        if input.count == 1, isFolder(first) {
            if isNIfTIName(output) { throw ValidationError("-o \(output): an nnU-Net input folder is written to a folder") }
            if planMemory { throw ValidationError("--plan-memory takes a single case (-i CASE_0000.nii.gz ... -o OUT.nii.gz)") }
            let part = try datasetPart()
            let cases = part.select(try NNUNetCase.cases(in: first, fileEnding: folder.labels.fileEnding,
                                                         channels: folder.labels.inputChannelCount).sorted { $0.name < $1.name })
            if !part.isWhole && !common.quiet { print("segmenting \(part) of the cases") }
            let out = URL(fileURLWithPath: output)
            try OutputCheck.refuseFolder(out, sameAs: first)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            AtomicFile.removeStaleTemporaries(in: out)
            var written = 0, skipped = 0, failed: [String] = []
            for (n, item) in cases.enumerated() {
                let target = out.appendingPathComponent(item.name + folder.labels.fileEnding)
                if resume, NNUNetOutputs.isComplete(target, probabilities: nnunet.saveProbabilities) {
                    skipped += 1
                    continue
                }
                do {
                    try runNNUNetCase(item, predictor: predictor, output: target, progress: progress, label: "case \(n + 1)/\(cases.count) \(item.name)")
                    written += 1
                } catch {
                    progress.clear()
                    warn("error: \(item.name): \(error)")
                    failed.append(item.name)
                }
            }
            if !common.quiet {
                print("nnU-Net input folder: \(written) written, \(skipped) skipped, \(failed.count) failed -> \(out.path)")
            }
            if !failed.isEmpty { throw ExitCode(1) }
            return
        }
        guard isNIfTIName(output) else {
            throw ValidationError("-o \(output): name the output label map (.nii.gz or .nii) when -i gives files")
        }
        try refuseParts()
        let files = input.map { URL(fileURLWithPath: $0) }
        guard files.count == folder.labels.inputChannelCount else {
            throw ValidationError("the model takes \(folder.labels.inputChannelCount) channel(s) (\(folder.labels.channelNames.sorted { $0.value < $1.value }.map(\.key).joined(separator: ", "))); -i gave \(files.count) file(s)")
        }
        let name = NIfTIFileName.stem(URL(fileURLWithPath: output).lastPathComponent) ?? "case"
        try runNNUNetCase(NNUNetCase(name: name, files: files), predictor: predictor, output: URL(fileURLWithPath: output),
                          progress: progress, label: URL(fileURLWithPath: output).lastPathComponent)
    }

    /// One case, with its progress line and log.
    func runNNUNetCase(_ item: NNUNetCase, predictor: NNUNetPredictor, output: URL, progress: ProgressDisplay, label: String) throws {
        let outputs = NNUNetOutputs(labelMap: output, saveProbabilities: nnunet.saveProbabilities,
                                    probabilitiesNIfTI: probabilities.map { URL(fileURLWithPath: $0) })
        // Checked here, before the plan (which preprocesses the case), and with the model folder
        // among what must not be overwritten; `segment` checks the inputs again for its other callers.
        try outputs.check(inputs: item.files + (model.map { [URL(fileURLWithPath: $0)] } ?? []))
        if planMemory || memoryBudget != nil {
            let loaded = MemoryLedger.shared.currentBytes
            let peak = try predictor.plannedPeak(item, outputs: outputs)
            if planMemory {
                let folds = predictor.model.folds.count, mirrorings = predictor.mirrorAxes.isEmpty ? 1 : 1 << predictor.mirrorAxes.count
                return printPlannedMemory("\(item.name) (\(folds) fold(s), \(mirrorings) mirroring(s) per window"
                                          + (outputs.needsProbabilities ? ", probabilities kept)" : ")"), loaded: loaded, peak: peak)
            }
            var hint = ""
            if outputs.needsProbabilities {
                let without = NNUNetOutputs(labelMap: outputs.labelMap, saveProbabilities: false, probabilitiesNIfTI: nil)
                hint = "; without --save_probabilities it needs \(MemorySize.format(loaded + (try predictor.plannedPeak(item, outputs: without))))"
            }
            try checkBudget(item.files[0].path, loaded: loaded, peak: peak, hint: hint)
        }
        let started = Date()
        let replaced = try predictor.segment(item, into: outputs) { done, total in
            progress.show("\(label): window \(done)/\(total)", final: done == total)
        }
        progress.clear()
        if replaced > 0 { warn("warning: \(item.files[0].path): \(replaced) NaN or infinite voxels were read as 0") }
        if !common.quiet {
            print("wrote \(output.path) (\(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
        }
    }
}
