import ArgumentParser
import Foundation
import VolSegDatasets

struct ShiftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shift",
        abstract: "Copy a dataset as another scanner would have given it (for adaptation and robustness checks).",
        discussion: """
            Every file of --data is copied to --out; every case's image channels are replaced by shifted values \
            (labels and other files unchanged). Order: per-channel gamma on intensities scaled to [0, 1] by the \
            channel's maximum, a smooth multiplicative bias field, scale * v + offset, Gaussian blur, Gaussian noise. \
            Presets: liver-scanner (HU' = 1.15 HU + 40, blur 0.8 voxel, noise 20 HU, seed 7: the liver adaptation \
            demonstration) and brats-contrast (gammas 0.4 2.5 0.4 2.5 per modality, bias field 0.8, background kept, \
            seed 11: the BraTS one). Flags given with a preset override its values.
            """)

    @Option(name: .long, help: "The dataset folder (BraTS, MSD, LiTS, nnU-Net layout).")
    var data: String

    @Option(name: [.long, .customShort("o")], help: "The output folder (must not exist).")
    var out: String

    @Option(name: .long, help: "The shift to start from (see above; none: no shift).")
    var preset: ScannerShift.Preset = .none

    @Option(name: .long, help: "Intensity scale (calibration).") var scale: Float?
    @Option(name: .long, help: "Intensity offset, in the image's units (HU for CT).") var offset: Float?
    @Option(name: .long, parsing: .upToNextOption, help: "Gamma per channel (one value: every channel).") var gamma: [Float] = []
    @Option(name: .customLong("bias-field"), help: "Peak |log| of the multiplicative bias field (0: none).") var biasField: Float?
    @Option(name: .long, help: "Gaussian blur sigma in voxels.") var blur: Float?
    @Option(name: .long, help: "Gaussian noise std in the image's units.") var noise: Float?
    @Flag(name: .customLong("keep-background"), help: "Voxels 0 in every channel stay 0 (skull-stripped MRI).") var keepBackground = false

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if let bad = gamma.first(where: { !($0 > 0) }) { throw ValidationError("--gamma values must be positive, got \(bad)") }
        for (name, value) in [("--bias-field", biasField), ("--blur", blur), ("--noise", noise)] {
            if let value, !(value >= 0) { throw ValidationError("\(name) must not be negative, got \(value)") }
        }
    }

    func run() throws {
        common.apply()
        var shift = preset.shift
        if let scale { shift.scale = scale }
        if let offset { shift.offset = offset }
        if !gamma.isEmpty { shift.gamma = gamma }
        if let biasField { shift.biasFieldStrength = biasField }
        if let blur { shift.blurSigma = blur }
        if let noise { shift.noiseStd = noise }
        if keepBackground { shift.keepsBackground = true }
        // A preset keeps its own noise seed unless --seed names another (0, the default, means "the preset's").
        if preset == .none || common.seed != 0 { shift.seed = common.seed }
        let files = try ScannerShiftedDataset.write(from: URL(fileURLWithPath: data), to: URL(fileURLWithPath: out), shift: shift)
        if !common.quiet { print("shift: \(shift)\nwrote \(out): \(files.count) image file(s) shifted, labels and other files copied") }
    }
}
