@testable import VolSegCore
import VolSegTestSupport
import XCTest

/// The convolution family against PyTorch (../shared/golden/ops.h5): y and the gradients of x,
/// w and b for the stored gy, each to a relative error below 1e-4 (the golden README's measure).
final class ConvGoldenTests: XCTestCase {
    enum Op { case conv3d, conv2d, convTranspose3d, linear }

    func check(_ name: String, _ op: Op) throws {
        guard let file = try GoldenFile.open("ops.h5") else { throw XCTSkip("../shared is absent: \(name) not checked") }
        let group = try file.group(name)
        func tensor(_ path: String) throws -> Tensor { try group.tensor(path) }
        func ints(_ attribute: String, default value: [Int]) throws -> [Int] {
            guard group.hasAttribute(attribute) else { return value }
            return try group.int64ArrayAttribute(attribute).map { Int($0) }
        }
        let x = try tensor("x"), w = try tensor("w"), b = try tensor("b"), gy = try tensor("gy")
        x.requiresGrad = true; w.requiresGrad = true; b.requiresGrad = true
        let stride = try ints("stride", default: [1]), padding = try ints("padding", default: [0])
        let groups = try ints("groups", default: [1])[0]
        let y: Tensor
        switch op {
        case .conv3d: y = conv3d(x, weight: w, bias: b, stride: stride, padding: padding, groups: groups)
        case .conv2d: y = conv2d(x, weight: w, bias: b, stride: stride, padding: padding, groups: groups)
        case .convTranspose3d: y = convTranspose3d(x, weight: w, bias: b, stride: stride, padding: padding, groups: groups)
        case .linear: y = linear(x, weight: w, bias: b)
        }
        Tensor.backward(roots: [y], gradients: [gy])
        let errors = [("y", relativeError(y, try tensor("y"))), ("gx", relativeError(x.grad!, try tensor("gx"))),
                      ("gw", relativeError(w.grad!, try tensor("gw"))), ("gb", relativeError(b.grad!, try tensor("gb")))]
        print("golden \(name): " + errors.map { "\($0.0) \(String(format: "%.2e", $0.1))" }.joined(separator: ", "))
        for (what, error) in errors { XCTAssertLessThan(error, 1e-4, "\(name) \(what)") }
    }

    func testConv3dKernel3Stride1() throws { try check("conv3d_k3s1p1", .conv3d) }
    func testConv3dKernel3Stride2() throws { try check("conv3d_k3s2p1", .conv3d) }
    func testConv3dPointwise() throws { try check("conv3d_k1s1", .conv3d) }
    func testConv3dPointwiseStride2() throws { try check("conv3d_k1s2", .conv3d) }
    func testConv3dAnisotropic() throws { try check("conv3d_aniso_k133_s122", .conv3d) }
    func testConv3dDepthwiseStride1() throws { try check("conv3d_depthwise_k3s1", .conv3d) }
    func testConv3dDepthwiseStride2() throws { try check("conv3d_depthwise_k3s2", .conv3d) }
    func testConv2dKernel3() throws { try check("conv2d_k3s1p1", .conv2d) }
    func testConvTranspose3dKernel2Stride2() throws { try check("convtranspose3d_k2s2", .convTranspose3d) }
    func testLinear() throws { try check("linear", .linear) }
}
