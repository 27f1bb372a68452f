import XCTest
@testable import VolSegCore

final class AutogradTests: XCTestCase {
    func testGradientsAccumulateThroughSharedInputs() {
        let a = Tensor(shape: [3], values: [1, 2, 3], requiresGrad: true)
        let b = Tensor(shape: [3], values: [4, 5, 6], requiresGrad: true)
        // loss = sum(a*b + a) -> dL/da = b + 1, dL/db = a
        let loss = (a * b + a).sum()
        loss.backward()
        XCTAssertEqual(a.grad?.toArray(), [5, 6, 7])
        XCTAssertEqual(b.grad?.toArray(), [1, 2, 3])
        // A second backward accumulates.
        (a * b).sum().backward()
        XCTAssertEqual(a.grad?.toArray(), [9, 11, 13])
    }

    func testNoGradScopeRecordsNothing() {
        let a = Tensor(shape: [2], values: [1, 2], requiresGrad: true)
        let y = withNoGrad { a * a }
        XCTAssertNil(y.gradNode)
        XCTAssertNotNil((a * a).gradNode)
    }
}
