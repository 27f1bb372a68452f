import ArgumentParser
import Foundation
import VolSegPipeline

extension EvaluationLabel.Regions: ExpressibleByArgument {}

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

    @Option(name: .long, help: "A model checkpoint to predict every case of --data with, then evaluate (not implemented yet).")
    var model: String?

    @Option(name: .long, help: "A dataset folder to predict with --model, then evaluate (not implemented yet).")
    var data: String?

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if model != nil || data != nil { return }   // run() says that mode is not implemented yet
        if pred == nil { throw ValidationError("--pred FOLDER is required") }
        if ref == nil { throw ValidationError("--ref FOLDER is required") }
        if out == nil { throw ValidationError("--out FOLDER is required") }
    }

    func run() throws {
        if model != nil || data != nil {
            throw NotImplemented(command: "evaluate --model/--data (predict, then evaluate)")
        }
        common.apply()
        let options = EvaluationOptions(predictions: URL(fileURLWithPath: pred!), references: URL(fileURLWithPath: ref!),
                                        labelArguments: labels, regions: regions, allowMissing: allowMissing,
                                        pictures: !noPictures)
        let live = !common.quiet && !common.noProgress && isatty(STDERR_FILENO) != 0
        let result = try Evaluation.run(options) { done, total, evaluation in
            if common.quiet { return }
            if live {
                FileHandle.standardError.write(Data("\r\u{1B}[K[\(done)/\(total)] \(evaluation.pair.caseID)".utf8))
            } else {
                print("[\(done)/\(total)] \(evaluation.pair.caseID)")
            }
        }
        if live { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
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

    private func fixed(_ value: Double?, _ width: Int) -> String {
        let text = value.map { $0.isNaN ? "NaN" : String(format: "%.4f", $0) } ?? "-"
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
