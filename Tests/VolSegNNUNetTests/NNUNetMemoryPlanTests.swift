import Foundation
import VolSegCore
import VolSegIO
import VolSegNNUNet
import VolSegTestSupport
import XCTest

/// `NNUNetPredictor.plannedPeak` (what `segment --plan-memory` prints) equals the memory ledger's
/// peak of the real run, the export and the writes included, on the reference models: resampling
/// both ways (A), separate-z resampling with a transposition (B), the reorienting reader (G).
final class NNUNetMemoryPlanTests: XCTestCase {
    static let root = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/nnunet")

    func testPlannedPeakEqualsTheRealRunsPeak() throws {
        let cases = [("models/A/nnUNetTrainer__nnUNetPlans__3d_fullres", "inputs/A", "liver_0101"),
                     ("models/B/nnUNetTrainer__nnUNetPlans__3d_fullres", "inputs/B", "brain_0100"),
                     ("models/G/nnUNetTrainer__nnUNetPlans__3d_fullres", "inputs/G", "liver_0300")]
        for (folder, inputs, name) in cases {
            let model = try NNUNetModelFolder.open(Self.root.appendingPathComponent(folder))
            let predictor = NNUNetPredictor(model: model)
            let item = try XCTUnwrap(try NNUNetCase.cases(in: Self.root.appendingPathComponent(inputs), fileEnding: model.labels.fileEnding,
                                                          channels: model.labels.inputChannelCount).first { $0.name == name })
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-nnunet-plan-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: out) }
            let outputs = NNUNetOutputs(labelMap: out.appendingPathComponent(name + ".nii.gz"), saveProbabilities: true,
                                        probabilitiesNIfTI: out.appendingPathComponent(name + "_probabilities.nii.gz"))
            let real = try MemoryLedger.shared.measurePeak { try predictor.segment(item, into: outputs) }.peakBytes
            let planned = try predictor.plannedPeak(item, outputs: outputs)
            print("\(name): real ledger peak \(real) bytes, planned \(planned)")
            XCTAssertGreaterThan(real, 0, name)
            XCTAssertEqual(planned, real, name)
        }
    }
}
