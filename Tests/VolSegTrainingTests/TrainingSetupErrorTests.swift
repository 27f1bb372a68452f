import Foundation
@testable import VolSegCore
@testable import VolSegIO
@testable import VolSegTraining
import XCTest

/// Setup errors are typed: a caller can match the failure and read the file and value it names.
final class TrainingSetupErrorTests: XCTestCase {
    func testALabelValueOutsideTheConventionNamesTheFileAndValue() throws {
        let labels = try TrainingLabels(convention: .lits, target: .labels)
        let map = Tensor(shape: [3], values: [0, 1, 7])
        XCTAssertThrowsError(try labels.classIndices(map, file: "case_0001.nii.gz")) { error in
            XCTAssertEqual(error as? TrainingSetupError,
                           .labelValueOutsideConvention(file: "case_0001.nii.gz", value: 7, convention: "lits", labels: [0, 1, 2]))
            XCTAssertEqual("\(error)", "case_0001.nii.gz: label value 7.0 is not one of lits's labels [0, 1, 2]")
        }
    }

    func testRegionTrainingNeedsAConventionWithRegions() {
        let plain = LabelConvention(name: "two-class", labels: [0: "background", 1: "organ"], regions: [])
        XCTAssertThrowsError(try TrainingLabels(convention: plain, target: .regions)) { error in
            XCTAssertEqual(error as? TrainingSetupError, .conventionWithoutRegions(convention: "two-class"))
            XCTAssertTrue("\(error)".contains("names no regions"), "\(error)")
        }
    }

    func testResumingAnotherRunsLogIsRefused() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: url) }
        try "epoch,iteration,loss\n0,1,0.5\n".write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TrainingLog(url: url, structureNames: ["liver"], keepIterations: 1)) { error in
            guard case .logHeaderMismatch(let path, let header)? = error as? TrainingSetupError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(header.contains("val_dice_liver"), header)
            XCTAssertTrue("\(error)".hasSuffix("it belongs to another run"), "\(error)")
        }
    }
}
