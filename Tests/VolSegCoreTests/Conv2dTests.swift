@testable import VolSegCore
import VolSegTestSupport
import XCTest

final class Conv2dTests: XCTestCase {
    /// conv2d is conv3d with a depth of 1: compare with the 3D reference on the same values.
    func testMatchesTheThreeDimensionalReference() {
        let x = seededTensor([2, 3, 7, 6], seed: 1), w = seededTensor([4, 3, 3, 3], seed: 2), b = seededTensor([4], seed: 3)
        x.requiresGrad = true; w.requiresGrad = true; b.requiresGrad = true
        let y = conv2d(x, weight: w, bias: b, stride: [2, 1], padding: [1])
        XCTAssertEqual(y.shape, [2, 4, 4, 6])
        let gy = seededTensor(y.shape, seed: 4)
        Tensor.backward(roots: [y], gradients: [gy])
        let ref = ReferenceConv.forwardBackward(x: x.reshaped([2, 3, 1, 7, 6]), w: w.reshaped([4, 3, 1, 3, 3]), b: b,
                                                gy: gy.reshaped([2, 4, 1, 4, 6]), stride: [1, 2, 1], padding: [0, 1, 1], groups: 1)
        XCTAssertLessThan(relativeError(y.toArray(), ref.y), 1e-5)
        XCTAssertLessThan(relativeError(x.grad!.toArray(), ref.gx), 1e-5)
        XCTAssertLessThan(relativeError(w.grad!.toArray(), ref.gw), 1e-5)
        XCTAssertLessThan(relativeError(b.grad!.toArray(), ref.gb), 1e-5)
    }
}
