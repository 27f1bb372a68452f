import Foundation
@testable import VolSegCore
import VolSegTestSupport
@testable import VolSegTraining
import XCTest

/// Augmentation: image and labels move together; rotation and zoom resample trilinear images and
/// nearest labels from the whole case; intensity steps keep labels and do what they say.
final class AugmentationTests: XCTestCase {
    /// A case whose labels are a function of position and whose image is the same function, so
    /// every spatial step must keep image == labels wherever labels are integer-valued.
    func makeCase(_ shape: [Int] = [16, 16, 16]) -> TrainingCase {
        let volume = shape.reduce(1, *)
        var labels = [Float](repeating: 0, count: volume)
        for d in 0..<shape[0] { for h in 0..<shape[1] { for w in 0..<shape[2] {
            labels[(d * shape[1] + h) * shape[2] + w] = Float((d / 4 + 2 * (h / 8) + w / 8) % 4)
        } } }
        return TrainingCase(id: "a", image: Tensor(shape: [1] + shape, values: labels),
                            labels: Tensor(shape: [1] + shape, values: labels), classCount: 4)
    }

    func sample(_ settings: AugmentationSettings, _ item: TrainingCase, seed: UInt64, patch: [Int] = [16, 16, 16], lower: [Int] = [0, 0, 0]) -> ([Float], [Float]) {
        let n = patch.reduce(1, *)
        var image = [Float](repeating: .nan, count: n * item.channelCount), labels = [Float](repeating: .nan, count: n)
        var rng = RandomGenerator(seed: seed)
        PatchAugmenter(settings: settings, patchSize: patch).makeSample(from: item, lower: lower, image: &image, labels: &labels, rng: &rng)
        return (image, labels)
    }

    func onlyMirroring() -> AugmentationSettings {
        var s = AugmentationSettings()
        s.rotationProbability = 0; s.scalingProbability = 0; s.intensityScaleProbability = 0
        s.intensityShiftProbability = 0; s.contrastProbability = 0; s.gammaProbability = 0
        s.gammaInvertProbability = 0; s.noiseProbability = 0
        return s
    }

    func testMirroringFlipsImageAndLabelsTogether() {
        let item = makeCase()
        var s = onlyMirroring()
        s.mirrorProbability = 1
        s.mirrorAxes = [0]  // x, the tensor's W axis
        let (image, labels) = sample(s, item, seed: 1)
        XCTAssertEqual(image, labels)
        for d in 0..<16 { for h in 0..<16 { for w in 0..<16 {
            XCTAssertEqual(labels[(d * 16 + h) * 16 + w], item.labels.data[(d * 16 + h) * 16 + 15 - w])
        } } }
        // All three axes: the patch is the volume reversed.
        s.mirrorAxes = [0, 1, 2]
        let (_, all) = sample(s, item, seed: 1)
        XCTAssertEqual(all, Array(item.labels.toArray().reversed()))
    }

    func testQuarterTurnMovesVoxelsExactly() {
        let item = makeCase()
        // Rotation about D by 90 degrees: output (d, h, w) reads source (d, -(w - c) + c, (h - c) + c).
        let matrix = SpatialPatch.matrix(angles: [Double.pi / 2, 0, 0], zoom: 1)
        var image = [Float](repeating: 0, count: 4096), labels = [Float](repeating: 0, count: 4096)
        SpatialPatch(patchSize: [16, 16, 16], transform: matrix).extract(from: item, lower: [0, 0, 0], image: &image, labels: &labels)
        for d in 0..<16 { for h in 0..<16 { for w in 0..<16 {
            let sh = 15 - w, sw = h
            let expected = item.labels.data[(d * 16 + sh) * 16 + sw]
            XCTAssertEqual(labels[(d * 16 + h) * 16 + w], expected)
            XCTAssertEqual(image[(d * 16 + h) * 16 + w], expected, accuracy: 1e-4)
        } } }
    }

    func testRotatedAndZoomedLabelsStayLabelsAndImagesInterpolate() {
        let item = makeCase([24, 24, 24])
        var s = onlyMirroring()
        s.mirrorAxes = []
        s.rotationProbability = 1; s.scalingProbability = 1
        let (image, labels) = sample(s, item, seed: 9, patch: [16, 16, 16], lower: [4, 4, 4])
        XCTAssertTrue(labels.allSatisfy { $0 == $0.rounded() && $0 >= 0 && $0 <= 3 })
        // Trilinear values lie between the labels around them; some are strictly between (blended).
        XCTAssertTrue(image.allSatisfy { $0 >= -1e-5 && $0 <= 3 + 1e-5 }, "\(image.min()!) ... \(image.max()!)")
        XCTAssertTrue(image.contains { $0 != $0.rounded() })
        // Nearest labels agree with the interpolated image where it is far from any edge.
        let agree = zip(image, labels).filter { abs($0 - $1) < 0.01 }.count
        XCTAssertGreaterThan(agree, 4096 / 2)
        // The same seed gives the same patch.
        let again = sample(s, item, seed: 9, patch: [16, 16, 16], lower: [4, 4, 4])
        XCTAssertEqual(again.0, image)
        XCTAssertEqual(again.1, labels)
    }

    func testIntensityStepsChangeOnlyTheImage() {
        let shape = [1, 16, 16, 16]
        let values = seededTensor(shape, seed: 4, low: -2, high: 2)
        let labels = Tensor.zeros(shape)
        let item = TrainingCase(id: "i", image: values, labels: labels, classCount: 2)
        var s = onlyMirroring()
        s.mirrorAxes = []
        s.intensityScaleProbability = 1
        s.intensityScaleRange = 1.5...1.5
        let (scaled, l) = sample(s, item, seed: 2)
        XCTAssertEqual(l, [Float](repeating: 0, count: 4096))
        for (a, b) in zip(scaled, values.toArray()) { XCTAssertEqual(a, 1.5 * b, accuracy: 1e-5) }

        // Gamma keeps the channel's mean and standard deviation (retain_stats) but changes values.
        s.intensityScaleProbability = 0
        s.gammaProbability = 1
        let (gamma, _) = sample(s, item, seed: 3)
        let before = IntensityAugmentation.moments(values.data, count: 4096)
        let after = gamma.withUnsafeBufferPointer { IntensityAugmentation.moments(UnsafeMutablePointer(mutating: $0.baseAddress!), count: 4096) }
        XCTAssertEqual(after.mean, before.mean, accuracy: 1e-4)
        XCTAssertEqual(after.std, before.std, accuracy: 1e-4)
        XCTAssertGreaterThan(zip(gamma, values.toArray()).map { abs($0 - $1) }.max()!, 0.01)

        // Noise with variance 0.04 (std 0.2): the difference has that spread (+-10%).
        s.gammaProbability = 0
        s.noiseProbability = 1
        s.noiseVarianceRange = 0.04...0.04
        let (noisy, _) = sample(s, item, seed: 5)
        let differences = zip(noisy, values.toArray()).map { Double($0 - $1) }
        let variance = differences.map { $0 * $0 }.reduce(0, +) / Double(differences.count)
        XCTAssertEqual(variance, 0.04, accuracy: 0.004)
    }
}
