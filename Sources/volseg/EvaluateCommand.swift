import ArgumentParser
import Foundation
import VolSegCore
import VolSegDistributed
import VolSegEvaluation
import VolSegIO
import VolSegReport
import VolSegInference
import VolSegNNUNet

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score predictions against reference label maps.",
        discussion: """
            Matches the files of --pred and --ref by case id (file names without .nii/.nii.gz; a \
            reference folder in a dataset layout uses its case ids: LiTS segmentation-N is volume-N, \
            BraTS <case>_seg is <case>). Per case and label: Dice, IoU, HD95, ASSD and NSD (surface \
            metrics in mm with the reference's voxel spacing, by the conventions --hd95, --assd and \
            --nsd-tolerance name), TP/FP/FN/TN and voxel counts. Writes OUT/summary.json exactly as \
            nnU-Net's compute_metrics_on_folder writes it (keys "1" or "(1, 2, 4)", so nnU-Net's \
            load_summary_json and determine_postprocessing read it), OUT/summary_extra.json (label \
            names, global Dice, conventions), OUT/metrics.csv, OUT/report.md and OUT/pictures/CASE.png. \
            A label empty in both prediction and reference has Dice NaN; a label absent everywhere \
            is a warning and NaN values.
            --metrics brats-lesionwise adds the BraTS 2023+ lesion-wise Dice and HD95 of WT, TC and ET \
            as the challenge's code computes them (lesions merged by dilation, thresholds and \
            dilation of --brats-challenge; BraTS 2021 and MSD labels mapped to 2023 values): \
            OUT/lesions.csv (one row per lesion and FP component) and a lesionwise section in \
            summary_extra.json.
            Without --labels or --regions every label value found in the references is evaluated.
            nnU-Net's own forms work as they are: `volseg evaluate GT_FOLDER PRED_FOLDER -l 1 2 [-il 3] \
            [-o FILE] [-np N] [--chill]` (nnUNetv2_evaluate_simple) and `volseg evaluate GT_FOLDER \
            PRED_FOLDER -djfile dataset.json -pfile plans.json [-o FILE]` (nnUNetv2_evaluate_folder); \
            there -o is the summary.json file (default PRED_FOLDER/summary.json) and the other \
            outputs go beside it.
            Sharded: --num-parts N --part-id K scores every N-th case (sorted as nnU-Net lists them) \
            and writes only OUT/evaluation_part_K_of_N.json; `volseg evaluate --merge OUT` (part files \
            or folders holding them, all N parts) writes the reports an unsharded run writes. Under \
            mpirun the part is the rank and rank 0 merges by itself; a Slurm array task gives the part \
            as for segment.
            """)

    @Argument(help: "nnU-Net's form: GT_FOLDER PRED_FOLDER (instead of --ref and --pred).")
    var folders: [String] = []

    @Option(name: .customShort("l"), parsing: .upToNextOption, help: "nnU-Net's -l: integer labels to score (keys \"1\", \"2\").")
    var nnunetLabels: [Int] = []

    @Option(name: [.customLong("ignore-label"), .customLong("il", withSingleDash: true)],
            help: "nnU-Net's ignore label: reference voxels of this value count nowhere (not in TP/FP/FN/TN nor in the surfaces).")
    var ignoreLabel: Int?

    @Option(name: .customLong("djfile", withSingleDash: true), help: "nnU-Net's dataset.json: labels or regions and the ignore label.")
    var datasetJSON: String?

    @Option(name: .customLong("pfile", withSingleDash: true), help: "nnU-Net's plans.json (checked to be readable; labels come from -djfile).")
    var plansJSON: String?

    @Option(name: .customLong("np", withSingleDash: true), help: "nnU-Net's number of processes: used as the thread count unless --threads is given.")
    var processes: Int?

    @Flag(name: .customLong("chill"), help: "nnU-Net's --chill: evaluate the predictions present when some references have none (as --allow-missing).")
    var chill = false

    @Option(name: .customLong("hd95"), help: "HD95 convention: monai (default; max of the two directed 95th percentiles over border voxels), deepmind (area-weighted over surface elements, the BraTS code's), medpy (both directions pooled).")
    var hd95: HD95Convention = .monai

    @Option(name: .customLong("assd"), help: "ASSD convention: monai (default; mean of both directions pooled, also MedPy 0.5) or medpy04 (mean of the two directed means).")
    var assd: ASSDConvention = .monai

    @Option(name: .customLong("nsd-tolerance"), parsing: .upToNextOption,
            help: "Normalised surface Dice tolerance in mm (default 1), as DeepMind's compute_surface_dice_at_tolerance; LABEL=MM for one label.")
    var nsdTolerance: [String] = []

    @Option(name: .long, help: "Metric sets beyond the default one (always computed): brats-lesionwise (BraTS 2023+ lesion-wise Dice and HD95 of WT, TC, ET). Repeatable.")
    var metrics: [EvaluationMetrics] = []

    @Option(name: .customLong("brats-challenge"), help: "With --metrics brats-lesionwise: the challenge whose dilation and lesion threshold apply: gli, ssa, ped (3 dilations, 50 mm³), men (1, 50 mm³), met (1, 2 mm³); default gli.")
    var bratsChallenge: BraTSChallenge?

    @Option(name: .long, help: "Folder of predicted label maps (CASE.nii.gz).")
    var pred: String?

    @Option(name: .long, help: "Folder of reference label maps, or a dataset folder (BraTS, LiTS, MSD, nnU-Net).")
    var ref: String?

    @Option(name: .long, parsing: .upToNextOption,
            help: "Labels to score: name=v1,v2 (a region of several values), a value, or a region name of the reference dataset.")
    var labels: [String] = []

    @Option(name: .long, help: "Named regions: brats (WT 1,2,4; TC 1,4; ET 4), brats2023 (WT 1,2,3; TC 1,3; ET 3), lits (liver 1,2; tumour 2).")
    var regions: EvaluationLabel.Regions?

    @Option(name: [.long, .customShort("o")], help: "Output folder (created if needed); in nnU-Net's form, the summary.json file.")
    var out: String?

    @Flag(name: .customLong("allow-missing"), help: "Evaluate the matched cases when some have no prediction or no reference.")
    var allowMissing = false

    @Flag(name: .customLong("ignore-geometry"), help: "Score predictions whose affine differs from their reference's (same shape), voxel by voxel.")
    var ignoreGeometry = false

    @Flag(name: .customLong("no-pictures"), help: "Skip the per-case pictures.")
    var noPictures = false

    @Option(name: .customLong("report-max-cases"),
            help: "OUT/report.html shows every case in its table and this many in its viewer, worst (lowest mean Dice) first; 0: the table only (default 100).")
    var reportMaxCases: Int = EvaluationReportPage.defaultMaximumCases

    @Option(name: .long, help: "A model checkpoint: predict every case of --data into OUT/predictions, then evaluate.")
    var model: String?

    @Option(name: .long, help: "A dataset folder (BraTS, LiTS, MSD, nnU-Net) to predict with --model and score against its labels.")
    var data: String?

    @Flag(name: .long, help: "With --model: mirroring test-time augmentation (8x the time).")
    var tta = false

    @Flag(name: .customLong("disable_tta"), help: "With --model MODEL_DIR (nnU-Net): no mirroring (nnU-Net mirrors by default).")
    var disableTTA = false

    @Option(name: .long, help: "With --model: sliding-window step as a fraction of the patch (0, 1].")
    var step: Double = 0.5

    @OptionGroup var precision: PrecisionOption

    @Option(name: .long, help: "With --model: post-process the predictions before scoring: lits (VolSeg checkpoints), nnunet (an nnU-Net model folder's postprocessing.pkl).")
    var postprocess: Postprocessing?

    @Option(name: .customLong("num-parts"), help: "Score every N-th case only and write OUT/evaluation_part_K_of_N.json (see --merge); default: the MPI ranks, a Slurm array's tasks, else 1.")
    var numParts: Int?

    @Option(name: .customLong("part-id"), help: "With --num-parts: this part, 0..<N.")
    var partID: Int?

    @Option(name: .long, parsing: .upToNextOption,
            help: "Merge the parts of a sharded evaluation (evaluation_part_K_of_N.json files or folders holding them) into its reports; --out replaces the parts' output folder.")
    var merge: [String] = []

    @OptionGroup var common: CommonOptions

    /// nnU-Net's positional form: `GT_FOLDER PRED_FOLDER`.
    var isNNUNetForm: Bool { !folders.isEmpty }

    func validate() throws {
        if !merge.isEmpty {
            if !folders.isEmpty || pred != nil || ref != nil || model != nil || data != nil || numParts != nil || partID != nil {
                throw ValidationError("--merge takes the evaluation from its parts: give only the part files or folders (and --out)")
            }
            return
        }
        if datasetJSON != nil && plansJSON == nil { throw ValidationError("-djfile goes with -pfile plans.json, as in nnUNetv2_evaluate_folder") }
        if let processes, processes < 1 { throw ValidationError("-np must be at least 1, got \(processes)") }
        if let bratsChallenge, !metrics.contains(.bratsLesionWise) {
            throw ValidationError("--brats-challenge \(bratsChallenge.rawValue) goes with --metrics brats-lesionwise")
        }
        if precision.precision != .float32 && model == nil {
            throw ValidationError("--precision sets the arithmetic of what --model predicts; scored folders are taken as they are")
        }
        if postprocess != nil && model == nil {
            throw ValidationError("--postprocess post-processes what --model predicts; scored folders are taken as they are")
        }
        if !folders.isEmpty {
            guard folders.count == 2 else {
                throw ValidationError("nnU-Net's form takes two folders, GT_FOLDER PRED_FOLDER; got \(folders.count)")
            }
            if pred != nil || ref != nil || model != nil || data != nil {
                throw ValidationError("give the folders either as GT_FOLDER PRED_FOLDER or with --ref/--pred, not both")
            }
            if nnunetLabels.isEmpty && datasetJSON == nil && labels.isEmpty && regions == nil {
                throw ValidationError("nnU-Net's form needs -l LABEL... or -djfile dataset.json (or --labels / --regions)")
            }
            return
        }
        if model != nil || data != nil {
            if model == nil || data == nil { throw ValidationError("--model and --data go together") }
            if pred != nil || ref != nil { throw ValidationError("--model/--data predict the cases; leave out --pred and --ref") }
            if out == nil { throw ValidationError("--out FOLDER is required") }
            if !(step > 0 && step <= 1) { throw ValidationError("--step must be in (0, 1], got \(step)") }
            return
        }
        if pred == nil { throw ValidationError("--pred FOLDER is required") }
        if ref == nil { throw ValidationError("--ref FOLDER is required") }
        if out == nil { throw ValidationError("--out FOLDER is required") }
    }

    func run() throws {
        if !merge.isEmpty {
            common.apply()
            return try runMerge()
        }
        let ranks = try DistributedLaunch.group()
        // -np, when given, sets the threads again in `evaluate`.
        common.apply(ranks: ranks)
        let part = try WorkPart.resolve(count: numParts, index: partID, group: ranks)
        if !part.isWhole && model != nil {
            throw ValidationError("--model predicts and scores in one process: shard the prediction with `volseg segment --num-parts`, "
                + "then evaluate the predictions in parts")
        }
        try precision.run { try evaluate(part: part, scored: nil, ranks: ranks) }
    }

    /// The arguments of this command as a part records them: all but the part flags.
    static func recordedArguments(_ arguments: [String]) -> [String] {
        withoutOption(["--num-parts", "--part-id"], in: arguments)
    }

    /// `--merge`: the recorded command of the parts, run again in their folder with every case's
    /// scores taken from its part (and --out, when given here, in place of theirs).
    func runMerge() throws {
        let parts = try EvaluationPart.collect(merge.map { URL(fileURLWithPath: $0) })
        var arguments = Array(parts[0].arguments.drop { $0 != "evaluate" }.dropFirst())
        if let out {
            let absolute = URL(fileURLWithPath: out).standardizedFileURL.path
            arguments = Self.withoutOption(["--out", "-o"], in: arguments) + ["--out", absolute]
        }
        guard FileManager.default.changeCurrentDirectoryPath(parts[0].directory) else {
            throw ValidationError("the parts were made in \(parts[0].directory), which this machine does not have")
        }
        var command = try EvaluateCommand.parse(arguments)
        command.common = common
        try command.evaluate(part: .whole, scored: EvaluationPart.scoredCases(parts), ranks: SingleProcessGroup.shared)
    }

    /// `arguments` without the options `names` and their values.
    static func withoutOption(_ names: [String], in arguments: [String]) -> [String] {
        var kept: [String] = [], skipNext = false
        for argument in arguments {
            if skipNext { skipNext = false; continue }
            if names.contains(argument) { skipNext = true; continue }
            if names.contains(where: { argument.hasPrefix($0 + "=") }) { continue }
            kept.append(argument)
        }
        return kept
    }

    /// Scores `part` of the cases (or takes `scored` ones) and writes the reports, or, for a part,
    /// its part file; under mpirun rank 0 then merges the ranks' parts.
    func evaluate(part: WorkPart, scored: [String: EvaluationPart.ScoredCase]?, ranks: any ProcessGroup) throws {
        if let processes, common.threads == nil { Parallel.setThreadCount(processes) }
        var predictions = pred.map { URL(fileURLWithPath: $0) }
        var references = ref.map { URL(fileURLWithPath: $0) }
        if isNNUNetForm {
            references = URL(fileURLWithPath: folders[0])
            predictions = URL(fileURLWithPath: folders[1])
        }
        if let model, let data {
            (predictions, references) = try predictDataset(model: model, data: data)
        }
        var extraLabels = nnunetLabels.map { EvaluationLabel(name: String($0), values: [$0]) }
        var ignore = ignoreLabel
        // An nnU-Net model's own dataset.json names the labels, as nnUNetv2_evaluate_folder -djfile does.
        var labelTable = datasetJSON.map { ($0, plansJSON) }
        if labelTable == nil, let model, isFolder(model) {
            labelTable = (model + "/dataset.json", model + "/plans.json")
        }
        if let (datasetJSON, plansJSON) = labelTable {
            let dataset = try NNUNetDatasetLabels.read(datasetJSON: URL(fileURLWithPath: datasetJSON),
                                                       plans: plansJSON.map { URL(fileURLWithPath: $0) })
            extraLabels += dataset.labels
            ignore = ignore ?? dataset.ignoreLabel
        }
        let tolerances = try SurfaceMetricSettings.parseTolerances(nsdTolerance)
        let surface = SurfaceMetricSettings(hd95: hd95, assd: assd, nsdToleranceMM: tolerances.default ?? 1,
                                            nsdToleranceByLabel: tolerances.byLabel)
        var options = EvaluationOptions(predictions: predictions!, references: references!,
                                        labelArguments: labels, regions: regions, allowMissing: allowMissing || chill,
                                        pictures: !noPictures, labels: extraLabels, ignoreLabel: ignore, surface: surface,
                                        metrics: Set(metrics + [.standard]), bratsChallenge: bratsChallenge ?? .gli)
        options.ignoreGeometry = ignoreGeometry
        let progress = ProgressDisplay(common)
        let result = try Evaluation.run(options, part: part, scored: scored) { done, total, evaluation in
            // Each case is a result worth a line of its own when there is no live line to show it.
            let line = "[\(done)/\(total)] \(evaluation.pair.caseID)"
            if progress.isLive { progress.show(line, final: done == total) } else if !common.quiet { print(line) }
        }
        progress.clear()
        // nnU-Net's form: -o names summary.json itself (default PRED_FOLDER/summary.json).
        let summary = isNNUNetForm ? URL(fileURLWithPath: out ?? predictions!.appendingPathComponent("summary.json").path) : nil
        let folder = summary?.deletingLastPathComponent() ?? URL(fileURLWithPath: out!)
        if !part.isWhole {
            let record = EvaluationPart(arguments: Self.recordedArguments(Array(CommandLine.arguments.dropFirst())),
                                        directory: FileManager.default.currentDirectoryPath, part: part, result: result)
            let file = try record.write(into: folder)
            guard ranks.size > 1 else {
                if !common.quiet {
                    print("scored \(part) (\(result.cases.count) case(s)) into \(file.path); "
                        + "merge all \(part.count) with volseg evaluate --merge \(folder.path)")
                }
                return
            }
            // Every rank's part is written before rank 0 reads them.
            let failed = ranks.failedRanks(ok: true, operation: "the evaluation parts")
            try ranks.check()
            guard failed.isEmpty else { throw DistributedError.stoppedByRanks(ranks: failed, operation: "the evaluation parts") }
            guard ranks.isRoot else { return }
            let files = (0..<part.count).map { folder.appendingPathComponent(EvaluationPart.fileName(index: $0, count: part.count)) }
            try evaluate(part: .whole, scored: EvaluationPart.scoredCases(try EvaluationPart.collect(files)), ranks: SingleProcessGroup.shared)
            for file in files { try? FileManager.default.removeItem(at: file) }
            return
        }
        let page = try EvaluationReportPage.files(result, options: options, maximumCases: reportMaxCases)
        try EvaluationReport.write(result, options: options, to: folder, summaryName: summary?.lastPathComponent ?? "summary.json", page: page)

        for line in result.matching.missingPredictions.map({ "no prediction: \($0)" })
            + result.matching.extraPredictions.map({ "no reference: \($0)" }) + result.warnings.map({ "warning: \($0)" }) {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        if !common.quiet {
            let means = result.mean, global = result.globalDice
            print("conventions: HD95 \(hd95.rawValue), ASSD \(assd.rawValue), NSD at \(surface.nsdToleranceMM) mm")
            print("label".padding(toLength: 16, withPad: " ", startingAt: 0) + "  mean Dice  global Dice  mean HD95 (mm)  mean ASSD (mm)   mean NSD")
            for label in result.labels {
                let m = means[label.name] ?? [:]
                print(label.name.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + "  " + fixed(m["dice"], 9) + "  " + fixed(global[label.name], 11)
                    + "  " + fixed(m["hd95"], 14) + "  " + fixed(m["assd"], 14) + "  " + fixed(m["nsd"], 9))
            }
            if let (challenge, _) = result.lesionWise {
                print("lesion-wise means, \(challenge.challengeName) (\(challenge.dilationIterations) dilation(s), lesions > "
                    + "\(Int(challenge.lesionVolumeThresholdMM3)) mm³ counted, 374 mm for a missed lesion or FP):")
                print("region".padding(toLength: 16, withPad: " ", startingAt: 0) + "    lw Dice  lw HD95 (mm)     TP     FP     FN"
                    + "  legacy Dice  legacy HD95 (mm)")
                let means = BraTSLesionWise.means(result.cases.compactMap(\.lesionWise))
                for region in BraTSRegion.allCases {
                    guard let m = means[region] else { continue }
                    print(region.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0) + "  " + fixed(m["LesionWise_Score_Dice"], 9)
                        + "  " + fixed(m["LesionWise_Score_HD95"], 12)
                        + String(format: "  %5.2f  %5.2f  %5.2f", m["Num_TP"] ?? .nan, m["Num_FP"] ?? .nan, m["Num_FN"] ?? .nan)
                        + "  " + fixed(m["Legacy_Dice"], 11) + "  " + fixed(m["Legacy_HD95"], 16))
                }
            }
            print("evaluated \(result.cases.count) case(s); wrote \(folder.path)/metrics.csv, \(summary?.lastPathComponent ?? "summary.json"), "
                + "summary_extra.json, report.md, report.html" + (result.lesionWise == nil ? "" : ", lesions.csv") + (noPictures ? "" : " and pictures/"))
        }
    }

    /// The "batch-evaluate a dataset" job: segment every case of `data` into OUT/predictions (the
    /// labels are read only by the evaluation that follows), then score against the dataset.
    private func predictDataset(model: String, data: String) throws -> (URL, URL) {
        let dataset = URL(fileURLWithPath: data)
        if isFolder(model) {
            return try predictNNUNetDataset(model: URL(fileURLWithPath: model), dataset: dataset)
        }
        if postprocess == .nnunet {
            throw ValidationError("--postprocess nnunet applies nnU-Net's postprocessing.pkl to an nnU-Net model folder's output; --model names a VolSeg checkpoint")
        }
        let layout = try DatasetDetector.detect(dataset)
        let bundle = try ModelBundle.load(URL(fileURLWithPath: model))
        let segmenter = Segmenter(bundle: bundle, options: SegmenterOptions(step: step, mirroring: tta, postprocessing: postprocess))
        let folder = URL(fileURLWithPath: out!).appendingPathComponent("predictions")
        let progress = ProgressDisplay(common)
        let report = try segmenter.segmentDataset(layout, into: folder, log: progress.message, progress: { n, count, id, done, total in
            progress.show("case \(n)/\(count) \(id): window \(done)/\(total)", final: done == total)
        })
        progress.clear()
        if !report.failed.isEmpty {
            throw ValidationError("\(data): could not segment " + report.failed.map(\.id).joined(separator: ", "))
        }
        if !common.quiet { print("segmented \(report.written.count) case(s) of \(layout.layoutName) into \(folder.path)") }
        return (folder, dataset)
    }

    /// An nnU-Net model folder over an nnU-Net raw dataset: every case of imagesTr (CASE_0000...)
    /// predicted into OUT/predictions as nnUNetv2_predict predicts it (mirroring on unless
    /// --disable_tta), scored against labelsTr with the labels of the model's dataset.json.
    private func predictNNUNetDataset(model: URL, dataset: URL) throws -> (URL, URL) {
        let folder = try NNUNetModelFolder.open(model)
        let images = dataset.appendingPathComponent("imagesTr"), references = dataset.appendingPathComponent("labelsTr")
        guard FileManager.default.fileExists(atPath: images.path), FileManager.default.fileExists(atPath: references.path) else {
            throw ValidationError("\(dataset.path): an nnU-Net model is evaluated on an nnU-Net raw dataset (imagesTr/ and labelsTr/)")
        }
        let cases = try NNUNetCase.cases(in: images, fileEnding: folder.labels.fileEnding, channels: folder.labels.inputChannelCount)
        var predictor = NNUNetPredictor(model: folder)
        predictor.stepSize = step
        predictor.mirroring = !disableTTA
        predictor.postprocessing = try NNUNetSegmentOptions.postprocessing(postprocess, file: nil, folder: folder)
        let predictions = URL(fileURLWithPath: out!).appendingPathComponent("predictions")
        try FileManager.default.createDirectory(at: predictions, withIntermediateDirectories: true)
        let progress = ProgressDisplay(common)
        for (n, item) in cases.enumerated() {
            let target = predictions.appendingPathComponent(item.name + folder.labels.fileEnding)
            try predictor.segment(item, into: NNUNetOutputs(labelMap: target, saveProbabilities: false, probabilitiesNIfTI: nil)) { done, total in
                progress.show("case \(n + 1)/\(cases.count) \(item.name): window \(done)/\(total)", final: done == total)
            }
        }
        progress.clear()
        if !common.quiet {
            print("segmented \(cases.count) case(s) with nnU-Net model \(folder.url.lastPathComponent) into \(predictions.path)"
                  + (predictor.postprocessing.map { "; postprocessing \($0.source)" } ?? ""))
        }
        return (predictions, references)
    }

    private func isFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private func fixed(_ value: Double?, _ width: Int) -> String {
        let text = value.map { $0.isNaN ? "NaN" : String(format: "%.4f", $0) } ?? "-"
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
