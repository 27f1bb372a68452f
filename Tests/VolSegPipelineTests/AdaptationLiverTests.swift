import XCTest
import VolSegTestSupport
@testable import VolSegPipeline

/// A small BatchNorm model trained in the test on the liver CT slices z < 64 (2 mm grid), scored
/// on the held-out slices z >= 64 as they are and through a simulated scanner change
/// (`ScannerShift.liverScanner`), before and after each adaptation method.
final class AdaptationLiverTests: XCTestCase {
    func testAdaptationRaisesLiverDiceOnAShiftedScannerAndKeepsItOnTheSameScanner() throws {
        let demo = try LiverAdaptationDemo.make()
        let shifted = demo.heldOutImage(shift: .liverScanner)
        let same = demo.heldOutImage(shift: nil)
        var lines: [String] = ["shift: \(ScannerShift.liverScanner)"]
        do {
            let model = demo.copyOfModel()
            let report = try AdaBN.adapt(model, modelName: "t", windows: AdaptationWindows(images: [demo.trainImage], patch: demo.patch, divisor: model.sizeDivisor))
            lines.append("DIAG adabn on the training half: held-out Dice \(demo.liverDice(demo.model, same)) -> \(demo.liverDice(model, same)); shifts \(report.meanShift.prefix(8))")
        }
        for method in ["adabn", "progressive"] {
            for (name, image) in [("shifted", shifted), ("unshifted", same)] {
                let model = demo.copyOfModel()
                let before = demo.liverDice(model, image)
                let windows = AdaptationWindows(images: [image], patch: demo.patch, divisor: model.sizeDivisor)
                let start = Date()
                if method == "adabn" {
                    try AdaBN.adapt(model, modelName: "liver test model", windows: windows)
                } else {
                    try ProgressiveAdaptation.adapt(model, modelName: "liver test model", output: .labels([0, 1]),
                                                    windows: windows, settings: demo.progressiveSettings, seed: 3)
                }
                let seconds = Date().timeIntervalSince(start)
                let after = demo.liverDice(model, image)
                lines.append(String(format: "%@ %@: liver Dice %.4f -> %.4f (%.1f s)", method, name, before, after, seconds))
                if name == "shifted" {
                    XCTAssertGreaterThan(after - before, 0.01, "\(method) must raise the shifted target's liver Dice by > 0.01")
                } else {
                    XCTAssertGreaterThan(after - before, -0.01, "\(method) must not lower the unshifted liver Dice by > 0.01")
                }
            }
        }
        print(lines.joined(separator: "\n"))
    }
}
