import Foundation
@testable import VolSegInference
import VolSegTestSupport
import XCTest

/// Window placement (nnU-Net's `compute_steps_for_sliding_window`) and the Gaussian importance map
/// (`compute_gaussian`).
final class SlidingWindowTests: XCTestCase {
    func testWindowStartsForBraTSSizedVolumeMatchNnUNet() {
        // n = ceil((size - patch) / (patch * step)) + 1, evenly spread, first at 0, last at size - patch.
        XCTAssertEqual(SlidingWindow.starts(size: 240, patch: 128, step: 0.5), [0, 56, 112])
        XCTAssertEqual(SlidingWindow.starts(size: 155, patch: 128, step: 0.5), [0, 27])
        XCTAssertEqual(SlidingWindow.starts(size: 128, patch: 128, step: 0.5), [0])
        // 136 / 5 = 27.2 apart: 0, 27.2, 54.4, 81.6, 108.8, 136 rounded.
        XCTAssertEqual(SlidingWindow.starts(size: 200, patch: 64, step: 0.5), [0, 27, 54, 82, 109, 136])
        XCTAssertEqual(SlidingWindow.starts(size: 200, patch: 64, step: 1), [0, 45, 91, 136])
        let layout = SlidingWindow(volumeShape: [155, 240, 240], patch: [128, 128, 128])
        XCTAssertEqual(layout.windowCount, 18)
        XCTAssertEqual(layout.windows.first, [0, 0, 0])
        XCTAssertEqual(layout.windows.last, [27, 112, 112])
        XCTAssertEqual(layout.windows[1], [0, 0, 56], "W varies fastest")
    }

    func testHalfwayPositionsRoundToEvenLikeNumpy() {
        // Positions 0, 2.5, 5: numpy's round gives 2, not 3.
        XCTAssertEqual(SlidingWindow.starts(size: 11, patch: 6, step: 0.5), [0, 2, 5])
        // Positions 0, 3.5, 7: rounds to 4.
        XCTAssertEqual(SlidingWindow.starts(size: 15, patch: 8, step: 0.5), [0, 4, 7])
    }

    func testWindowsCoverEveryVoxelWithStepsNoLargerThanAsked() {
        for size in [1, 7, 16, 17, 31, 64, 100, 155, 240] {
            for patch in [1, 4, 16, 32] where patch <= size {
                for step in [0.25, 0.5, 0.75, 1.0] {
                    let starts = SlidingWindow.starts(size: size, patch: patch, step: step)
                    // nnU-Net's count; a step under one voxel (one-slice 2D windows) advances by one.
                    let expectedCount = Int((Double(size - patch) / max(Double(patch) * step, 1)).rounded(.up)) + 1
                    XCTAssertEqual(starts.count, expectedCount, "size \(size) patch \(patch) step \(step)")
                    XCTAssertEqual(starts.first, 0)
                    XCTAssertEqual(starts.last, size - patch)
                    for (a, b) in zip(starts, starts.dropFirst()) {
                        XCTAssertLessThanOrEqual(Double(b - a), (Double(patch) * step).rounded(.up), "gap too large")
                        // No position repeats, not even for steps under one voxel.
                        XCTAssertGreaterThan(b, a)
                    }
                }
            }
        }
    }

    func testPaddingSplitsLikeNnUNetAndWindowRoundsToTheDivisor() {
        let pads = SlidingWindow.padding(for: [100, 30, 127], patch: [64, 64, 128])
        XCTAssertEqual(pads.map(\.before), [0, 17, 0])
        XCTAssertEqual(pads.map(\.after), [0, 17, 1])
        XCTAssertEqual(SlidingWindow.padding(for: [5, 5, 5], patch: [8, 9, 5]).map { [$0.before, $0.after] }, [[1, 2], [2, 2], [0, 0]])
        XCTAssertEqual(SlidingWindow.window(patch: [128, 112, 100], divisor: [16, 16, 32]), [128, 112, 128])
    }

    func testGaussianMapIsNnUNetsSeparableGaussianWithMaximumOne() {
        let patch = [16, 12, 20]
        let map = GaussianImportance.map(patch: patch)
        XCTAssertEqual(map.shape, patch)
        let values = map.toArray()
        XCTAssertEqual(values.max(), 1)
        XCTAssertEqual(map[8, 6, 10], 1, "maximum at index size / 2")
        XCTAssertFalse(values.contains(0), "no zero weights")
        // sigma = size / 8: along D (sigma 2) at distance 3 the weight is exp(-9 / 8).
        XCTAssertEqual(map[11, 6, 10], Float(exp(-9.0 / 8)), accuracy: 1e-6)
        XCTAssertEqual(map[5, 6, 10], Float(exp(-9.0 / 8)), accuracy: 1e-6, "symmetric about the centre")
        // The corner (0, 0, 0) is at distances 8, 6, 10 = 4 sigma on every axis: exp(-8)^3.
        XCTAssertEqual(Double(map[0, 0, 0]), exp(-24.0), accuracy: 1e-6 * exp(-24.0))
        // Separable: g(z, y, x) = g(z, c, c) g(c, y, c) g(c, c, x).
        for (z, y, x) in [(1, 2, 3), (15, 0, 19), (7, 11, 4)] {
            XCTAssertEqual(map[z, y, x], map[z, 6, 10] * map[8, y, 10] * map[8, 6, x], accuracy: 1e-6 * map[z, y, x])
        }
    }

    func testZeroWeightsAreReplacedByTheSmallestNonzeroWeight() {
        // A wide sigma scale truncates the kernel inside the patch (radius int(4 * 0.5 + 0.5) = 2
        // for sigma 0.5): the far voxels would get 0.
        let map = GaussianImportance.map(patch: [1, 1, 9], sigmaScale: 1.0 / 18)
        let values = map.toArray()
        XCTAssertFalse(values.contains(0))
        let smallest = Float(exp(-2.0 * 2 / (2 * 0.25)))   // distance 2, sigma 0.5
        XCTAssertEqual(values[0], smallest, accuracy: 1e-7)
        XCTAssertEqual(values[2], smallest, accuracy: 1e-7)
        XCTAssertEqual(values[8], smallest, accuracy: 1e-7)
    }

    func testPlannedGaussianHasTheShapeAndNoMemory() {
        let planned = GaussianImportance.map(patch: [64, 64, 64], planned: true)
        XCTAssertTrue(planned.isPlanned)
        XCTAssertEqual(planned.shape, [64, 64, 64])
    }
}
