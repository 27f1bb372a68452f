@testable import VolSegCore
import VolSegTestSupport
import XCTest

/// One dataset of ops.h5's `group`; skips the test (visibly) when ../shared is absent.
func golden(_ group: String, _ name: String) throws -> Tensor {
    guard let t = try GoldenFile.tensor("ops.h5", "\(group)/\(name)") else {
        throw XCTSkip("../shared is absent: ops.h5 \(group) not checked")
    }
    return t
}

/// Runs a one-input op on the group's `x`, back-propagates its `gy`, and checks `y` and `gx`
/// against PyTorch to 1e-4 relative (the golden README's bound).
func checkUnaryGolden(_ group: String, _ op: (Tensor) -> Tensor, file: StaticString = #filePath, line: UInt = #line) throws {
    let x = try golden(group, "x")
    x.requiresGrad = true
    let y = op(x)
    Tensor.backward(roots: [y], gradients: [try golden(group, "gy")])
    for (label, actual, expected) in [("y", y, try golden(group, "y")), ("gx", x.grad!, try golden(group, "gx"))] {
        let error = relativeError(actual, expected)
        print("golden \(group) \(label): relative error \(error)")
        XCTAssertLessThan(error, 1e-4, "\(group) \(label)", file: file, line: line)
    }
}
