import Foundation
import VolSegCore
@testable import VolSegEvaluation
import XCTest

/// The per-case picture a person reads without the code: slices where the model is wrong, views at
/// the voxel spacing's aspect ratio, a title with the case and Dice, and a colour legend.
final class EvaluationPictureTests: XCTestCase {
    /// [1, nz, ny, nx] from a function of (z, y, x).
    func volume(_ shape: [Int], _ value: (Int, Int, Int) -> Float) -> Tensor {
        var values = [Float]()
        for z in 0..<shape[0] { for y in 0..<shape[1] { for x in 0..<shape[2] { values.append(value(z, y, x)) } } }
        return Tensor(shape: [1] + shape, values: values)
    }

    func testSlicesAreWhereTheMapsDisagreeNotWhereTheReferenceIsLargest() {
        // The reference is largest at z = 2 (a full plane); the prediction misses one voxel at z = 7.
        let shape = [10, 8, 8]
        let reference = volume(shape) { z, y, x in z == 2 || (z == 7 && y == 3 && x == 5) ? 1 : 0 }
        let prediction = volume(shape) { z, _, _ in z == 2 ? 1 : 0 }
        let slices = EvaluationReportPicture.largestErrorSlices(reference.data, prediction.data, shape: shape)
        XCTAssertEqual(slices, [7, 3, 5])
        XCTAssertNil(EvaluationReportPicture.largestErrorSlices(reference.data, reference.data, shape: shape))
    }

    func testViewsKeepTheSpacingsAspectRatioAndCarryTitleAndLegend() {
        // 20 x 20 voxels in plane at 1 mm, 10 slices of 4 mm: the coronal view is 20 mm wide, 40 mm high.
        let shape = [10, 20, 20]
        let reference = volume(shape) { z, y, x in (2..<8).contains(z) && (5..<15).contains(y) && (5..<15).contains(x) ? 1 : 0 }
        let prediction = volume(shape) { z, y, x in (2..<8).contains(z) && (6..<15).contains(y) && (5..<15).contains(x) ? 1 : 0 }
        let bare = EvaluationReportPicture.render(reference: reference, prediction: prediction, image: nil, spacingXYZ: [1, 1, 4])
        let titled = EvaluationReportPicture.render(reference: reference, prediction: prediction, image: nil, spacingXYZ: [1, 1, 4],
                                                    caseID: "case-1", dice: [("organ", 0.947)])
        XCTAssertEqual(bare.pixels.count, bare.width * bare.height * 3)
        XCTAssertGreaterThan(titled.height, bare.height, "title lines above the panels")
        // The legend's first swatch is the reference colour.
        let legendRow = titled.height - EvaluationReportPicture.lineHeight - 10 + 6 + 5
        let swatch = (legendRow * titled.width + 4 + 5) * 3
        XCTAssertEqual(Array(titled.pixels[swatch..<(swatch + 3)]), EvaluationReportPicture.referenceColour)
        // Panel widths: axial 20 mm, coronal 20 mm, sagittal 20 mm wide; the coronal panel is twice as high as wide.
        // Without a title: 6 pixels on top, the view titles, the panels, the legend row.
        let line = EvaluationReportPicture.lineHeight
        let panelHeight = bare.height - 6 - (line + 2) - (line + 10)
        let panelWidth = (bare.width - 2 * EvaluationReportPicture.gap) / 3
        XCTAssertEqual(Double(panelHeight) / Double(panelWidth), 2, accuracy: 0.05)
    }
}
