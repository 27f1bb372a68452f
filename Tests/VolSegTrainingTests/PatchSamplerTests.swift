import Foundation
@testable import VolSegCore
import VolSegTestSupport
@testable import VolSegTraining
import XCTest

/// The patch sampler: nnU-Net's foreground share per batch, classes chosen evenly among those
/// present, and padding of volumes smaller than the patch.
final class PatchSamplerTests: XCTestCase {
    /// A [1, D, H, W] case whose image equals its flat voxel index, with a big class 1 block and a
    /// single voxel of class 2.
    func makeCase(shape: [Int] = [20, 24, 28], tinyVoxel: [Int] = [15, 3, 21]) -> TrainingCase {
        let volume = shape.reduce(1, *)
        let image = Tensor(shape: [1] + shape, values: (0..<volume).map(Float.init))
        var labels = [Float](repeating: 0, count: volume)
        for d in 2..<min(10, shape[0]) { for h in 4..<min(12, shape[1]) { for w in 5..<min(15, shape[2]) {
            labels[(d * shape[1] + h) * shape[2] + w] = 1
        } } }
        labels[(tinyVoxel[0] * shape[1] + tinyVoxel[1]) * shape[2] + tinyVoxel[2]] = 2
        return TrainingCase(id: "c", image: image, labels: Tensor(shape: [1] + shape, values: labels), classCount: 3)
    }

    func testLastThirdOfEachBatchIsForeground() {
        var rng = RandomGenerator(seed: 1)
        let three = PatchSampler(patchSize: [8, 8, 8], batchSize: 3, foregroundShare: 1.0 / 3.0)
        XCTAssertEqual((0..<3).map { three.isForegroundSample($0, rng: &rng) }, [false, false, true])
        let two = PatchSampler(patchSize: [8, 8, 8], batchSize: 2, foregroundShare: 0.33)
        XCTAssertEqual((0..<2).map { two.isForegroundSample($0, rng: &rng) }, [false, true])
        let six = PatchSampler(patchSize: [8, 8, 8], batchSize: 6, foregroundShare: 0.5)
        XCTAssertEqual((0..<6).map { six.isForegroundSample($0, rng: &rng) }, [false, false, false, true, true, true])
        // A batch of one is foreground-centred with probability share: 1/3 of 3000 draws, within 3%.
        let one = PatchSampler(patchSize: [8, 8, 8], batchSize: 1, foregroundShare: 1.0 / 3.0)
        let hits = (0..<3000).filter { _ in one.isForegroundSample(0, rng: &rng) }.count
        XCTAssertEqual(Double(hits) / 3000, 1.0 / 3.0, accuracy: 0.03)
    }

    func testForegroundPatchesContainTheirClassAndClassesAreChosenEvenly() {
        let item = makeCase()
        XCTAssertEqual(item.presentForegroundClasses, [1, 2])
        XCTAssertEqual(item.classLocations[2].count, 1)
        XCTAssertEqual(item.classLocations[1].count, 8 * 8 * 10)
        let sampler = PatchSampler(patchSize: [8, 8, 8], batchSize: 2, foregroundShare: 0.5)
        var rng = RandomGenerator(seed: 3)
        var perClass = [0, 0, 0]
        let shape = item.spatialShape
        for _ in 0..<2000 {
            let choice = sampler.choose(from: [item], sampleIndex: 1, rng: &rng)
            guard let cls = choice.foregroundClass else { return XCTFail("sample 1 of 2 must be foreground") }
            perClass[cls] += 1
            // The patch lies inside the volume and holds a voxel of its class.
            var found = false
            for d in 0..<8 { for h in 0..<8 { for w in 0..<8 {
                let p = [choice.lower[0] + d, choice.lower[1] + h, choice.lower[2] + w]
                XCTAssertTrue((0..<3).allSatisfy { p[$0] >= 0 && p[$0] < shape[$0] })
                if item.labels.data[(p[0] * shape[1] + p[1]) * shape[2] + p[2]] == Float(cls) { found = true }
            } } }
            XCTAssertTrue(found, "patch at \(choice.lower) misses class \(cls)")
        }
        // Uniform over the two present classes: the one-voxel tumour is chosen as often as the
        // large block (1000 +- 5%).
        XCTAssertEqual(Double(perClass[2]) / 2000, 0.5, accuracy: 0.05)
        XCTAssertEqual(perClass[0], 0)
    }

    func testRandomPatchesCoverEveryPosition() {
        let item = makeCase()
        let sampler = PatchSampler(patchSize: [16, 16, 16], batchSize: 2, foregroundShare: 0)
        var rng = RandomGenerator(seed: 5)
        var lowers = Set<[Int]>()
        // 585 corners and 20,000 draws: each corner is missed with probability e^-34.
        for _ in 0..<20000 {
            let choice = sampler.choose(from: [item], sampleIndex: 0, rng: &rng)
            XCTAssertNil(choice.foregroundClass)
            lowers.insert(choice.lower)
        }
        // (20-16+1) x (24-16+1) x (28-16+1) = 585 possible corners, all reached.
        XCTAssertEqual(lowers.count, 5 * 9 * 13)
    }

    func testSmallVolumesArePaddedWithZeros() {
        let item = makeCase(shape: [6, 7, 5], tinyVoxel: [1, 1, 1])
        let sampler = PatchSampler(patchSize: [8, 8, 8], batchSize: 1, foregroundShare: 0)
        var rng = RandomGenerator(seed: 2)
        let choice = sampler.choose(from: [item], sampleIndex: 0, rng: &rng)
        XCTAssertTrue(choice.lower.enumerated().allSatisfy { $1 <= 0 && $1 >= item.spatialShape[$0] - 8 }, "\(choice.lower)")
        var image = [Float](repeating: -1, count: 512), labels = [Float](repeating: -1, count: 512)
        PatchAugmenter(settings: .none, patchSize: [8, 8, 8]).makeSample(from: item, lower: choice.lower, image: &image, labels: &labels, rng: &rng)
        let shape = item.spatialShape
        var inside = 0
        for d in 0..<8 { for h in 0..<8 { for w in 0..<8 {
            let p = [choice.lower[0] + d, choice.lower[1] + h, choice.lower[2] + w], i = (d * 8 + h) * 8 + w
            if (0..<3).allSatisfy({ p[$0] >= 0 && p[$0] < shape[$0] }) {
                inside += 1
                XCTAssertEqual(image[i], Float((p[0] * shape[1] + p[1]) * shape[2] + p[2]))
            } else {
                XCTAssertEqual(image[i], 0)
                XCTAssertEqual(labels[i], 0)
            }
        } } }
        XCTAssertEqual(inside, 6 * 7 * 5, "every voxel of the small volume is in the patch")
    }
}
