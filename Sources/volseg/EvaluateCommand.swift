import ArgumentParser
import Foundation
import VolSegEvaluation
import VolSegIO
import VolSegInference

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score predictions against reference label maps.",
        discussion: """
            Matches the files of --pred and --ref by case id (file names without .nii/.nii.gz; a \
            reference folder in a dataset layout uses its case ids: LiTS segmentation-N is volume-N, \
            BraTS <case>_seg is <case>). Per case and label: Dice, IoU, HD95 and ASSD in mm (MedPy's \
            definitions, with the reference's voxel spacing), TP/FP/FN/TN and voxel counts. Writes \
            OUT/metrics.csv, OUT/summary.json (nnU-Net's shape, plus global Dice), OUT/report.md and \
            OUT/pictures/CASE.png. A label empty in both prediction and reference has Dice NaN.
            Without --labels or --regions every label value found in the references is evaluated.
            """)

    @Option(name: .long, help: "Folder of predicted label maps (CASE.nii.gz).")
    var pred: String?

    @Option(name: .long, help: "Folder of reference label maps, or a dataset folder (BraTS, LiTS, MSD, nnU-Net).")
    var ref: String?

    @Option(name: .long, parsing: .upToNextOption,
            help: "Labels to score: name=v1,v2 (a region of several values), a value, or a region name of the reference dataset.")
    var labels: [String] = []

    @Option(name: .long, help: "Named regions: brats (WT 1,2,4; TC 1,4; ET 4), brats2023 (WT 1,2,3; TC 1,3; ET 3), lits (liver 1,2; tumour 2).")
    var regions: EvaluationLabel.Regions?

    @Option(name: [.long, .customShort("o")], help: "Output folder (created if needed).")
    var out: String?

    @Flag(name: .customLong("allow-missing"), help: "Evaluate the matched cases when some have no prediction or no reference.")
    var allowMissing = false

    @Flag(name: .customLong("no-pictures"), help: "Skip the per-case pictures.")
    var noPictures = false

    @Option(name: .long, help: "A model checkpoint: predict every case of --data into OUT/predictions, then evaluate.")
    var model: String?

    @Option(name: .long, help: "A dataset folder (BraTS, LiTS, MSD, nnU-Net) to predict with --model and score against its labels.")
    var data: String?

    @Flag(name: .long, help: "With --model: mirroring test-time augmentation (8x the time).")
    var tta = false

    @Option(name: .long, help: "With --model: sliding-window step as a fraction of the patch (0, 1].")
    var step: Double = 0.5

    @OptionGroup var common: CommonOptions

    func validate() throws {
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
        common.apply()
        var predictions = pred.map { URL(fileURLWithPath: $0) }
        var references = ref.map { URL(fileURLWithPath: $0) }
        if let model, let data {
            (predictions, references) = try predictDataset(model: model, data: data)
        }
        let options = EvaluationOptions(predictions: predictions!, references: references!,
                                        labelArguments: labels, regions: regions, allowMissing: allowMissing,
                                        pictures: !noPictures)
        let progress = ProgressDisplay(common)
        let result = try Evaluation.run(options) { done, total, evaluation in
            // Each case is a result worth a line of its own when there is no live line to show it.
            let line = "[\(done)/\(total)] \(evaluation.pair.caseID)"
            if progress.isLive { progress.show(line, final: done == total) } else if !common.quiet { print(line) }
        }
        progress.clear()
        let folder = URL(fileURLWithPath: out!)
        try EvaluationReport.write(result, options: options, to: folder)

        for line in result.matching.missingPredictions.map({ "no prediction: \($0)" })
            + result.matching.extraPredictions.map({ "no reference: \($0)" }) + result.warnings.map({ "warning: \($0)" }) {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        if !common.quiet {
            let means = result.mean, global = result.globalDice
            print("label".padding(toLength: 16, withPad: " ", startingAt: 0) + "  mean Dice  global Dice  mean HD95 (mm)  mean ASSD (mm)")
            for label in result.labels {
                let m = means[label.name] ?? [:]
                print(label.name.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + "  " + fixed(m["dice"], 9) + "  " + fixed(global[label.name], 11)
                    + "  " + fixed(m["hd95"], 14) + "  " + fixed(m["assd"], 14))
            }
            print("evaluated \(result.cases.count) case(s); wrote \(folder.path)/metrics.csv, summary.json, report.md"
                + (noPictures ? "" : " and pictures/"))
        }
    }

    /// The "batch-evaluate a dataset" job: segment every case of `data` into OUT/predictions (the
    /// labels are read only by the evaluation that follows), then score against the dataset.
    private func predictDataset(model: String, data: String) throws -> (URL, URL) {
        let dataset = URL(fileURLWithPath: data)
        let layout = try DatasetDetector.detect(dataset)
        let bundle = try ModelBundle.load(URL(fileURLWithPath: model))
        let segmenter = Segmenter(bundle: bundle, options: SegmenterOptions(step: step, mirroring: tta))
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

    private func fixed(_ value: Double?, _ width: Int) -> String {
        let text = value.map { $0.isNaN ? "NaN" : String(format: "%.4f", $0) } ?? "-"
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
