import Foundation
@testable import VolSegCore
@testable import VolSegEvaluation
import XCTest

/// The metric building blocks on small grids where the answer is known: the distance transform
/// against brute force, numpy's percentile, MedPy's surface at the grid's edge, and the explicit
/// undefined values for empty labels.
final class EvaluationMetricTests: XCTestCase {
    /// A [nz, ny, nx] label map from a closure of (z, y, x).
    func labels(_ shape: [Int], _ value: (Int, Int, Int) -> Float) -> Tensor {
        var values = [Float]()
        for z in 0..<shape[0] { for y in 0..<shape[1] { for x in 0..<shape[2] { values.append(value(z, y, x)) } } }
        return Tensor(shape: shape, values: values)
    }

    func mask(_ t: Tensor, _ values: Set<Int> = [1]) -> EvaluationMask {
        EvaluationMask(labels: t.data, shape: t.shape, values: values)
    }

    func testDistanceTransformIsExactWithAnisotropicSpacing() {
        let shape = [9, 11, 13], spacing = [0.7, 1.3, 2.1]   // x, y, z
        var generator = SystemRandomNumberGenerator()
        var features = [UInt8](repeating: 0, count: shape.reduce(1, *))
        var points = [(Int, Int, Int)]()
        for _ in 0..<12 {
            let z = Int.random(in: 0..<shape[0], using: &generator), y = Int.random(in: 0..<shape[1], using: &generator)
            let x = Int.random(in: 0..<shape[2], using: &generator)
            features[(z * shape[1] + y) * shape[2] + x] = 1
            points.append((z, y, x))
        }
        var squared = [Double](repeating: -1, count: features.count)
        DistanceTransform.squaredDistances(toFeatures: features, shape: shape, spacingXYZ: spacing, into: &squared)
        var worst = 0.0
        for z in 0..<shape[0] { for y in 0..<shape[1] { for x in 0..<shape[2] {
            let brute = points.map { p -> Double in
                let dz = Double(z - p.0) * spacing[2], dy = Double(y - p.1) * spacing[1], dx = Double(x - p.2) * spacing[0]
                return dz * dz + dy * dy + dx * dx
            }.min()!
            worst = max(worst, abs(squared[(z * shape[1] + y) * shape[2] + x] - brute))
        } } }
        XCTAssertLessThan(worst, 1e-9, "exact squared distances (mm²)")
    }

    func testDistanceTransformWithoutFeaturesIsInfinite() {
        let features = [UInt8](repeating: 0, count: 24)
        var squared = [Double](repeating: 0, count: 24)
        DistanceTransform.squaredDistances(toFeatures: features, shape: [2, 3, 4], spacingXYZ: [1, 1, 1], into: &squared)
        XCTAssertTrue(squared.allSatisfy { $0 == .infinity })
    }

    func testPercentileIsNumpysLinearInterpolation() {
        // numpy.percentile(values, 95) for each list, printed by numpy 2.4.
        XCTAssertEqual(SurfaceDistances.percentile([1, 2, 3, 4, 10], 95), 8.799999999999999)
        XCTAssertEqual(SurfaceDistances.percentile([1.5, 0.5], 95), 1.45)
        XCTAssertEqual(SurfaceDistances.percentile([3], 95), 3)
        XCTAssertEqual(SurfaceDistances.percentile((0...20).map { Double($0) * 0.1 }, 95), 1.9000000000000001)
        XCTAssertEqual(SurfaceDistances.percentile([0.1, 0.2, 0.7], 95), 0.6499999999999999)
    }

    func testVoxelsOnTheGridEdgeAreSurfaceAsInMedPy() throws {
        // A mask filling the whole 3x3x3 grid: outside counts as background, so only the centre is
        // interior and 26 voxels are surface (scipy: 26; with border_value=1 there would be none).
        let full = mask(labels([3, 3, 3]) { _, _, _ in 1 })
        let whole = try XCTUnwrap(SurfaceDistances(prediction: full, reference: full, spacingXYZ: [1, 1, 1]))
        XCTAssertEqual(whole.predictionToReference.count, 26)
        XCTAssertEqual(whole.hausdorff95, 0)
        // A 5x5x5 cube inside a 7x7x7 grid: 125 - 27 interior voxels.
        let cube = mask(labels([7, 7, 7]) { z, y, x in (1...5).contains(z) && (1...5).contains(y) && (1...5).contains(x) ? 1 : 0 })
        let inner = try XCTUnwrap(SurfaceDistances(prediction: cube, reference: cube, spacingXYZ: [1, 1, 1]))
        XCTAssertEqual(inner.referenceToPrediction.count, 98)
    }

    func testShiftedCubeDistancesUseXYZSpacingOrder() throws {
        // The prediction is the reference moved by one voxel along x: every distance is a multiple
        // of the x spacing (0.5 mm), never of y (3 mm) or z (7 mm).
        let shape = [6, 6, 8]
        let ref = mask(labels(shape) { z, y, x in (1...4).contains(z) && (1...4).contains(y) && (2...5).contains(x) ? 1 : 0 })
        let pred = mask(labels(shape) { z, y, x in (1...4).contains(z) && (1...4).contains(y) && (3...6).contains(x) ? 1 : 0 })
        let scores = MetricScores.compute(prediction: pred, reference: ref, spacingXYZ: [0.5, 3, 7])
        XCTAssertEqual(scores.tp, 48)
        XCTAssertEqual(scores.fp, 16)
        XCTAssertEqual(scores.fn, 16)
        XCTAssertEqual(scores.dice, 0.75, accuracy: 1e-12)
        XCTAssertEqual(scores.iou, 0.6, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(scores.hd95), 0.5, accuracy: 1e-12)
        XCTAssertEqual(scores.predictionVolumeMM3, 64 * 0.5 * 3 * 7, accuracy: 1e-9)
    }

    func testEmptyInBothIsNaNAndEmptyOnOneSideIsZeroWithoutDistances() {
        let empty = mask(labels([4, 4, 4]) { _, _, _ in 0 })
        let some = mask(labels([4, 4, 4]) { z, _, _ in z == 1 ? 1 : 0 })
        let both = MetricScores.compute(prediction: empty, reference: empty, spacingXYZ: [1, 1, 1])
        XCTAssertTrue(both.dice.isNaN, "empty in both: Dice NaN, never 0 or 1")
        XCTAssertTrue(both.iou.isNaN)
        XCTAssertNil(both.hd95)
        XCTAssertNil(both.assd)
        XCTAssertEqual(both.tn, 64)
        for scores in [MetricScores.compute(prediction: empty, reference: some, spacingXYZ: [1, 1, 1]),
                       MetricScores.compute(prediction: some, reference: empty, spacingXYZ: [1, 1, 1])] {
            XCTAssertEqual(scores.dice, 0)
            XCTAssertEqual(scores.iou, 0)
            XCTAssertNil(scores.hd95)
            XCTAssertNil(scores.assd)
        }
    }

    func testRegionsJoinLabelValues() {
        let map = labels([2, 2, 2]) { z, y, x in Float([0, 1, 2, 4][(z * 2 + y + x) % 4]) }
        XCTAssertEqual(mask(map, [1, 2, 4]).count, map.toArray().filter { $0 > 0 }.count)
        XCTAssertEqual(mask(map, [4]).count, map.toArray().filter { $0 == 4 }.count)
    }
}
