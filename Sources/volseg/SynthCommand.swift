import ArgumentParser
import Foundation
import VolSegDatasets

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a synthetic dataset for tests and demos.",
        discussion: """
            brats: BraTS 2021 layout (four MRI contrasts, labels 1, 2, 4; default 64x64x64). \
            lits: LiTS layout (CT in HU, liver 1, lesions 2; default 64x64x48). \
            The same --seed writes the same files.
            """)

    @Argument(help: "Which dataset: \(SyntheticDataset.Kind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kind: SyntheticDataset.Kind

    @Option(name: .long, help: "Number of cases.")
    var cases: Int = 2

    @Option(name: [.long, .customShort("o")], help: "Output folder (created if needed).")
    var out: String

    @Option(name: .long, parsing: .upToNextOption, help: "Volume size X Y Z (NIfTI axis order).")
    var size: [Int] = []

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if cases < 1 { throw ValidationError("--cases must be at least 1, got \(cases)") }
        if !size.isEmpty && size.count != 3 { throw ValidationError("--size takes three numbers X Y Z, got \(size)") }
        if let bad = size.first(where: { $0 < 16 || $0 > 1024 }) {
            throw ValidationError("--size values must be in 16...1024, got \(bad)")
        }
    }

    func run() throws {
        common.apply()
        let folder = URL(fileURLWithPath: out)
        let files = try SyntheticDataset.write(kind, cases: cases, to: folder, seed: common.seed,
                                               size: size.isEmpty ? nil : size)
        if !common.quiet {
            print("wrote \(cases) synthetic \(kind.rawValue) cases (\(files.count) files) to \(folder.path)")
        }
    }
}
