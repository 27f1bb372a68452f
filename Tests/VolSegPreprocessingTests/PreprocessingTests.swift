import Foundation
@testable import VolSegCore
@testable import VolSegIO
@testable import VolSegPreprocessing
import VolSegTestSupport
import XCTest

/// Preprocessing on the real volumes of ../shared/data, and its inverse back to the input grid.
final class PreprocessingTests: XCTestCase {
    func read(_ relative: String) throws -> NIfTIVolume {
        guard let url = TestPaths.sharedFile(relative) else { throw XCTSkip("../shared absent") }
        return try NIfTIReader.read(url)
    }

    func count(_ t: Tensor, where predicate: (Float) -> Bool) -> Int {
        (0..<t.count).reduce(0) { predicate(t.data[$1]) ? $0 + 1 : $0 }
    }

    func testKeepingTheSpacingRestoresLabelsExactly() throws {
        let image = try read("data/radiomics_brain1/image.nii.gz"), label = try read("data/radiomics_brain1/label.nii.gz")
        let prepared = try Preprocessor(targetSpacing: nil, normalization: .zScoreInsideMask).prepare(image, labels: label)
        XCTAssertEqual(prepared.record.crop.fullShape, [25, 256, 256])
        XCTAssertEqual(prepared.image.shape, [1] + prepared.record.crop.croppedShape)
        XCTAssertEqual(prepared.record.restoreLabels(prepared.labels!).toArray(), label.voxels.toArray())
    }

    func testThickSlicesAreResampledKeepingTheTumourVolume() throws {
        let image = try read("data/radiomics_brain1/image.nii.gz"), label = try read("data/radiomics_brain1/label.nii.gz")
        let prepared = try Preprocessor(targetSpacing: [1, 1, 1.5], normalization: .zScoreInsideMask).prepare(image, labels: label)
        let crop = prepared.record.crop.croppedShape
        XCTAssertEqual(prepared.image.shape, [1, Int((Double(crop[0]) * 6.5 / 1.5).rounded()),
                                              Int((Double(crop[1]) * 0.78125).rounded()), Int((Double(crop[2]) * 0.78125).rounded())])
        // Tumour volume in mm^3: 4137 voxels of 0.78 x 0.78 x 6.5 mm = 16413 mm^3. The grid's
        // real voxel size is extent / rounded count; nearest sampling of a small lesion then
        // keeps its volume to a few percent (measured 2.8%: each 6.5 mm slice becomes 4 or 5 thin ones), checked to 4%.
        let shape = prepared.image.shape
        let voxel = [6.5, 0.78125, 0.78125].enumerated().reduce(1.0) { $0 * Double(crop[$1.offset]) * $1.element / Double(shape[$1.offset + 1]) }
        let resampledVolume = Double(count(prepared.labels!) { $0 == 1 }) * voxel
        print("tumour volume after resampling \(resampledVolume) mm^3, voxel \(voxel) mm^3")
        XCTAssertEqual(resampledVolume, 16412.66, accuracy: 0.04 * 16412.66)
        // Back on the input grid, the mask overlaps the original (Dice > 0.9; 1 mm is coarser in-plane).
        let restored = prepared.record.restoreLabels(prepared.labels!)
        XCTAssertEqual(restored.shape, label.voxels.shape)
        var both = 0, a = 0, b = 0
        for i in 0..<restored.count {
            let x = restored.data[i] == 1, y = label.voxels.data[i] == 1
            if x { a += 1 }; if y { b += 1 }; if x && y { both += 1 }
        }
        XCTAssertGreaterThan(2 * Double(both) / Double(a + b), 0.9)
    }

    func testUpsamplingThenRestoringIsExactOnAnLSAVolume() throws {
        let image = try read("data/itk_head_t1/t1.nii.gz"), label = try read("data/itk_head_t1/skullstrip_labels.nii.gz")
        let prepared = try Preprocessor(targetSpacing: [1.5, 1.5, 1.5], normalization: .zScoreInsideMask).prepare(image, labels: label)
        XCTAssertEqual(prepared.record.orientation?.orientation.axisCodes, ["L", "S", "A"])
        XCTAssertEqual(prepared.record.spacing, [2, 3, 2])
        XCTAssertEqual(Set(prepared.labels!.toArray()), [0, 4, 5, 6])
        let restored = prepared.record.restoreLabels(prepared.labels!)
        XCTAssertEqual(restored.shape, [1, 62, 128, 128])
        XCTAssertEqual(restored.toArray(), label.voxels.toArray())
    }

    func testMRIZScoreIsPerChannelInsideTheNonzeroMask() throws {
        let image = try read("data/itk_head_t1/t1.nii.gz")
        let mask = IntensityNormalization.nonzeroMask(image.voxels)
        let out = IntensityNormalization.zScoreInsideMask.apply(image.voxels)
        var sum = 0.0, squares = 0.0, n = 0
        for i in 0..<out.count {
            if mask[i] != 0 { sum += Double(out.data[i]); squares += Double(out.data[i]) * Double(out.data[i]); n += 1 }
            else { XCTAssertEqual(out.data[i], 0) }
        }
        XCTAssertGreaterThan(n, 0)
        XCTAssertEqual(sum / Double(n), 0, accuracy: 1e-4)
        XCTAssertEqual((squares / Double(n)).squareRoot(), 1, accuracy: 1e-4)
    }

    func testCTStatisticsComeFromTheTrainingSetNotTheImage() throws {
        let ct = try read("data/liver117/ct.nii.gz"), seg = try read("data/liver117/seg.nii.gz")
        let foreground = (0..<ct.voxels.count).filter { seg.voxels.data[$0] > 0 }.map { ct.voxels.data[$0] }
        let parameters = CTNormalization.fromTrainingForeground(foreground)
        // numpy on the same voxels: percentiles 23.875 / 185.5, mean 108.0717, std 29.9618.
        XCTAssertEqual(parameters.lower, 23.875, accuracy: 1e-3)
        XCTAssertEqual(parameters.upper, 185.5, accuracy: 1e-3)
        XCTAssertEqual(parameters.mean, 108.0717, accuracy: 1e-3)
        XCTAssertEqual(parameters.std, 29.9618, accuracy: 1e-3)
        let normalised = IntensityNormalization.ct(parameters).apply(ct.voxels)
        // The same HU value maps to the same number whatever else the image holds.
        let brighter = ct.voxels.copy()
        for i in 0..<(brighter.count / 2) { brighter.data[i] = 1500 }
        let other = IntensityNormalization.ct(parameters).apply(brighter)
        for i in stride(from: brighter.count / 2, to: brighter.count, by: 997) {
            XCTAssertEqual(other.data[i], normalised.data[i])
            let expected = (min(max(ct.voxels.data[i], 23.875), 185.5) - parameters.mean) / parameters.std
            XCTAssertEqual(normalised.data[i], expected, accuracy: 1e-5)
        }
        let window = CTNormalization.window(-200...250, mean: 100, std: 50)
        XCTAssertEqual(IntensityNormalization.ct(window).apply(Tensor(shape: [1, 1, 1, 3], values: [-1000, 100, 900])).toArray(),
                       [-6, 0, 3])
    }

    func testCropBoxAndNaNHandling() {
        let image = Tensor.zeros([2, 6, 7, 8])
        image[0, 1, 2, 3] = 5
        image[1, 4, 5, 6] = Float.nan
        image[1, 3, 3, 3] = -2
        let prepared = Preprocessor(targetSpacing: nil, normalization: .none).run(image: image, spacing: [1, 1, 1])
        XCTAssertEqual(prepared.record.replacedNonFinite, 1)
        XCTAssertEqual(prepared.record.crop.lower, [1, 2, 3])
        XCTAssertEqual(prepared.record.crop.upper, [4, 4, 4])
        XCTAssertEqual(prepared.image.shape, [2, 3, 2, 1])
        let probabilities = Tensor.full([2, 3, 2, 1], value: 0.5)
        let back = prepared.record.restoreProbabilities(probabilities)
        XCTAssertEqual(back[0, 0, 0, 0], 1)
        XCTAssertEqual(back[1, 0, 0, 0], 0)
        XCTAssertEqual(back[1, 2, 3, 3], 0.5)
    }

    func testTrilinearKeepsALinearRampLinear() {
        let ramp = Tensor(shape: [1, 4, 4, 4], values: (0..<64).map { Float($0 % 4) })   // value = x
        let up = Resampler.trilinear(ramp, to: [4, 4, 8])
        // Output x samples input (x + 0.5) / 2 - 0.5, clamped to [0, 3].
        let expected: [Float] = [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3]
        for x in 0..<8 { XCTAssertEqual(up[0, 2, 1, x], expected[x], accuracy: 1e-6) }
    }
}
