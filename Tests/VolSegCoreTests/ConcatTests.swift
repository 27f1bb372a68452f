@testable import VolSegCore
import XCTest

/// `Tensor.concat` on both of its copy paths: one sample (each copy split over the cores, as in a
/// U-Net's skip connections) and many rows, every element where it belongs.
final class ConcatTests: XCTestCase {
    func filled(_ shape: [Int], offset: Float) -> Tensor {
        let t = Tensor.empty(shape)
        for i in 0..<t.count { t.data[i] = offset + Float(i) }
        return t
    }

    func check(_ parts: [Tensor], axis: Int) {
        let joined = Tensor.concat(parts, axis: axis)
        let outer = parts[0].shape[..<axis].reduce(1, *), inner = parts[0].shape[(axis + 1)...].reduce(1, *)
        var expected: [Float] = []
        for o in 0..<outer {
            for part in parts {
                let run = part.shape[axis] * inner
                expected += (0..<run).map { part.data[o * run + $0] }
            }
        }
        XCTAssertEqual(joined.toArray(), expected, "axis \(axis), shapes \(parts.map(\.shape))")
    }

    func testOneSampleAndManyRowsGiveEveryElementInPlace() {
        // Runs of 192,000 and 128,000 floats: above the split size, so the copies are split.
        check([filled([1, 3, 40, 40, 40], offset: 0), filled([1, 2, 40, 40, 40], offset: 1e6)], axis: 1)
        // Many rows (outer 12): one chunk of rows per core.
        check([filled([3, 4, 5, 6], offset: 0), filled([3, 4, 2, 6], offset: 1e4)], axis: 2)
    }
}
