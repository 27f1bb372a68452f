import ArgumentParser
import Foundation
import VolSegInference
import VolSegNNUNet

/// nnUNetv2_predict's options, for `volseg segment` with an nnU-Net v2 model. `-npp`, `-nps`,
/// `--verbose` and `--disable_progress_bar` are accepted so that scripts written for nnU-Net run,
/// and do nothing (VolSeg has no preprocessing worker processes; its progress line follows
/// --no-progress). `-device cuda` or `mps` warns and runs on the CPU.
struct NNUNetSegmentOptions: ParsableArguments {
    @Option(name: .customShort("d"), help: "nnU-Net: dataset id or name under $nnUNet_results (with -c, -tr, -p).")
    var dataset: String?

    @Option(name: .customShort("c"), help: "nnU-Net: the configuration (3d_fullres, 2d, 3d_lowres).")
    var configuration: String?

    @Option(name: .customLong("tr", withSingleDash: true), help: "nnU-Net: the trainer (default nnUNetTrainer).")
    var trainer = "nnUNetTrainer"

    @Option(name: .customShort("p"), help: "nnU-Net: the plans identifier (default nnUNetPlans).")
    var plans = "nnUNetPlans"

    @Option(name: .customShort("f"), parsing: .upToNextOption,
            help: "nnU-Net: folds to ensemble (0 1 2 3 4, or all); default every fold_* holding the checkpoint.")
    var folds: [String] = []

    @Option(name: .customLong("chk", withSingleDash: true), help: "nnU-Net: the checkpoint file in each fold (default checkpoint_final.pth).")
    var checkpoint = NNUNetModelFolder.defaultCheckpoint

    @Flag(name: .customLong("save_probabilities"),
          help: "nnU-Net: also write CASE.npz (key probabilities) and CASE.pkl beside each label map, as nnU-Net does.")
    var saveProbabilities = false

    @Flag(name: .customLong("nnunet-half"),
          help: "Accumulate windows in float16 as stock nnU-Net does (to compare with nnUNetv2_predict bit for bit); default Float32.")
    var halfPrecision = false

    @Option(name: .customLong("pp_pkl_file", withSingleDash: true),
            help: "nnU-Net: the postprocessing.pkl to apply (implies --postprocess nnunet; default: the model folder's, see the README).")
    var postprocessingFile: String?

    @Option(name: .customLong("device", withSingleDash: true), help: "Accepted for nnU-Net users; VolSeg runs on the CPU.")
    var device = "cpu"

    @Option(name: .customLong("npp", withSingleDash: true), help: "Accepted, no effect.")
    var preprocessingProcesses: Int?

    @Option(name: .customLong("nps", withSingleDash: true), help: "Accepted, no effect.")
    var exportProcesses: Int?

    @Flag(name: .customLong("verbose"), help: "Accepted, no effect.")
    var verbose = false

    @Flag(name: .customLong("disable_progress_bar"), help: "Accepted, no effect.")
    var disableProgressBar = false

    @Option(name: .customLong("prev_stage_predictions", withSingleDash: true), help: "Refused: cascades are not supported.")
    var previousStage: String?

    func validate() throws {
        if previousStage != nil {
            throw ValidationError("-prev_stage_predictions: nnU-Net cascades (3d_cascade_fullres) are not supported; run a 3d_fullres or 2d model")
        }
        if dataset != nil && configuration == nil { throw ValidationError("-d needs -c CONFIGURATION (3d_fullres, 2d, ...)") }
        if let bad = folds.first(where: { $0 != "all" && Int($0).map { $0 < 0 } ?? true }) {
            throw ValidationError("-f \(bad): folds are numbers (0 1 2 3 4) or all")
        }
    }

    /// The postprocessing to apply to `folder`'s label maps: -pp_pkl_file's file, or with
    /// `--postprocess nnunet` the model folder's (`NNUNetPostprocessing.candidates`); nil without either.
    func postprocessing(_ choice: Postprocessing?, folder: NNUNetModelFolder) throws -> NNUNetPostprocessing? {
        try Self.postprocessing(choice, file: postprocessingFile, folder: folder)
    }

    /// The rule segment and evaluate share: `-pp_pkl_file` wins, `--postprocess nnunet` looks in
    /// the model folder, `--postprocess lits` is a VolSeg checkpoint's.
    static func postprocessing(_ choice: Postprocessing?, file: String?, folder: NNUNetModelFolder) throws -> NNUNetPostprocessing? {
        if choice == .lits {
            throw ValidationError("--postprocess lits applies to VolSeg checkpoints; an nnU-Net model takes --postprocess nnunet (its postprocessing.pkl)")
        }
        if let file { return try NNUNetPostprocessing.read(URL(fileURLWithPath: file)) }
        return choice == .nnunet ? try NNUNetPostprocessing.find(in: folder.url, folds: folder.folds) : nil
    }

    /// The nnU-Net model folder this run uses, or nil for a VolSeg checkpoint.
    func modelFolder(model: String?) throws -> URL? {
        if let dataset, let configuration {
            return try NNUNetModelFolder.resolve(dataset: dataset, configuration: configuration, trainer: trainer, plans: plans,
                                                 results: ProcessInfo.processInfo.environment["nnUNet_results"])
        }
        guard let model else { return nil }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
        return URL(fileURLWithPath: model)
    }

    /// nnU-Net's options mean nothing for a VolSeg checkpoint: say so instead of ignoring them.
    func refuseWithoutNNUNetModel() throws {
        if !folds.isEmpty || saveProbabilities || checkpoint != NNUNetModelFolder.defaultCheckpoint || configuration != nil
            || postprocessingFile != nil {
            throw ValidationError("-f, -c, -chk, -pp_pkl_file and --save_probabilities apply to nnU-Net model folders; -m names a VolSeg checkpoint")
        }
    }
}
