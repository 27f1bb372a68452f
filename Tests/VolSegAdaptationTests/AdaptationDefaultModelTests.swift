@testable import VolSegAdaptation
@testable import VolSegDatasets
@testable import VolSegIO
@testable import VolSegInference
import VolSegTestSupport
import XCTest

/// The committed default liver model (data/models/default-liver.h5, trained on liver117 z < 64)
/// on the committed held-out CT (data/liver117-heldout, z >= 64), as it is and through a simulated
/// scanner change (`ScannerShift.liverScanner`, applied in HU before the checkpoint's CT
/// normalisation): liver Dice before and after AdaBN with its default (content-matched) sampling.
/// Run it in a release build.
final class AdaptationDefaultModelTests: XCTestCase {
    /// Batches for AdaBN here: fewer than the CLI's 50 to keep the test short; the shifted-target
    /// gain measured with 20 and 50 batches agreed within 0.01.
    static let batches = 20

    func testAdaBNRaisesLiverDiceOnAShiftedScanner() throws {
        let root = TestPaths.repositoryRoot
        let modelURL = root.appendingPathComponent("data/models/default-liver.h5")
        let image = root.appendingPathComponent("data/liver117-heldout/volume-117.nii.gz")
        let labels = root.appendingPathComponent("data/liver117-heldout/segmentation-117.nii.gz")
        // The bundled model is committed: its absence is a broken checkout, not a reason to skip.
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            return XCTFail("\(modelURL.path) is missing: the bundled liver model is part of the repository")
        }
        let volume = try NIfTIReader.read(image)
        let truth = try NIfTIReader.read(labels).voxels.toArray().map { $0 >= 1 }
        var shifted = volume
        shifted.voxels = ScannerShift.liverScanner.apply(volume.voxels)
        var lines = ["shift: \(ScannerShift.liverScanner)"]
        for (name, target) in [("shifted", shifted), ("unshifted", volume)] {
            let before = try liverDice(try ModelBundle.load(modelURL), target, truth)
            let bundle = try ModelBundle.load(modelURL)
            var settings = AdaBN.Settings()
            settings.batches = Self.batches
            let images = [try bundle.config.preprocessor.prepare(target).image]
            let windows = AdaptationWindows(images: images, patch: bundle.config.patch, divisor: bundle.model.sizeDivisor)
            let start = Date()
            try AdaBN.adapt(bundle.model, modelName: "default-liver.h5", output: bundle.config.output, windows: windows,
                            settings: settings, seed: 0)
            let after = try liverDice(bundle, target, truth)
            lines.append(String(format: "adabn %@: liver Dice %.4f -> %.4f (%.1f s)", name, before, after, Date().timeIntervalSince(start)))
            if name == "shifted" {
                XCTAssertGreaterThan(after - before, 0.01, "AdaBN must raise the shifted target's liver Dice by > 0.01")
            } else {
                XCTAssertGreaterThanOrEqual(after - before, -0.01, "AdaBN must not lower the unshifted target's liver Dice by > 0.01")
            }
        }
        print(lines.joined(separator: "\n"))
    }

    func liverDice(_ bundle: ModelBundle, _ volume: NIfTIVolume, _ truth: [Bool]) throws -> Double {
        let predicted = try Segmenter(bundle: bundle).segment(volume).labels.toArray()
        var tp = 0, fp = 0, fn = 0
        for (p, t) in zip(predicted, truth) {
            if p >= 1 && t { tp += 1 } else if p >= 1 { fp += 1 } else if t { fn += 1 }
        }
        return 2 * Double(tp) / Double(max(2 * tp + fp + fn, 1))
    }
}
