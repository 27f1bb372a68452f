import Foundation
import VolSegCore
import VolSegIO
import VolSegNNUNet
import VolSegTestSupport
import XCTest

/// `postprocessing.pkl` against what nnU-Net's own `load_postprocess_save` wrote with the same
/// pickle (Tests/References/nnunet/make_postprocessing_reference.py): full connectivity, ties kept,
/// regions, background_label; and the pickles VolSeg must refuse.
final class NNUNetPostprocessingTests: XCTestCase {
    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/nnunet/postprocessing")

    func differingVoxels(_ a: Tensor, _ b: Tensor) -> Int {
        XCTAssertEqual(a.shape, b.shape)
        return (0..<min(a.count, b.count)).filter { a.data[$0] != b.data[$0] }.count
    }

    func testEveryStepKindMatchesNNUNet() throws {
        let input = try NIfTIReader.read(Self.folder.appendingPathComponent("synthetic.nii.gz")).voxels
        for name in ["foreground", "per_class", "tie", "liver"] {
            let postprocessing = try NNUNetPostprocessing.read(Self.folder.appendingPathComponent(name + ".pkl"))
            let expected = try NIfTIReader.read(Self.folder.appendingPathComponent(name + "_synthetic.nii.gz")).voxels
            let ours = postprocessing.apply(input)
            XCTAssertEqual(differingVoxels(ours, expected), 0, name)
            if name != "tie" { XCTAssertGreaterThan(differingVoxels(ours, input), 0, "\(name) removes something") }
        }
        let perClass = try NNUNetPostprocessing.read(Self.folder.appendingPathComponent("per_class.pkl"))
        XCTAssertEqual(perClass.steps, [.init(parts: [[1]]), .init(parts: [[2, 3]]), .init(parts: [[4]], backgroundLabel: 1)])
    }

    func testRefusals() throws {
        XCTAssertThrowsError(try NNUNetPostprocessing.read(Self.folder.appendingPathComponent("forbidden.pkl"))) { error in
            XCTAssertTrue("\(error)".contains("forbidden callable"), "\(error)")
            XCTAssertTrue("\(error)".contains("forbidden.pkl"), "\(error)")
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-pp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        XCTAssertThrowsError(try NNUNetPostprocessing.read(Self.folder.appendingPathComponent("other_function.pkl"))) { error in
            XCTAssertTrue("\(error)".contains("postprocessing function nnunetv2.postprocessing.remove_connected_components.apply_postprocessing"), "\(error)")
        }
        try Data([0x80, 0x02, 0x5d]).write(to: work.appendingPathComponent("cut.pkl"))
        XCTAssertThrowsError(try NNUNetPostprocessing.read(work.appendingPathComponent("cut.pkl"))) { error in
            XCTAssertTrue("\(error)".contains("cut.pkl"), "\(error)")
        }
        XCTAssertThrowsError(try NNUNetPostprocessing.find(in: work, folds: ["0", "1"])) { error in
            XCTAssertTrue("\(error)".contains("crossval_results_folds_0_1/postprocessing.pkl"), "\(error)")
        }
        let crossval = work.appendingPathComponent("crossval_results_folds_0_1")
        try FileManager.default.createDirectory(at: crossval, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.folder.appendingPathComponent("tie.pkl"), to: crossval.appendingPathComponent("postprocessing.pkl"))
        XCTAssertEqual(try NNUNetPostprocessing.find(in: work, folds: ["0", "1"]).steps, [.init(parts: [[2]])])
    }
}
