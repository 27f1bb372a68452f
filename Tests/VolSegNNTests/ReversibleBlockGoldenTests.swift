import Foundation
@testable import VolSegCore
@testable import VolSegNN
import VolSegTestSupport
import XCTest

/// One reversible MBConv block against PyTorch (`../shared/golden/revblock.h5`, float64 reference
/// stored as float32): output, input gradient and every parameter gradient below 1e-4 relative
/// error; BatchNorm running statistics after the forward equal PyTorch's, and the reversible
/// backward (which recomputes F and G in training mode) leaves them exactly as they were.
final class ReversibleBlockGoldenTests: XCTestCase {
    func testBlockWithoutSqueezeExcitationMatchesPyTorch() throws {
        try checkGoldenCase("revblock_c8_e4", squeezeExcitation: false, fused: false)
    }

    func testBlockWithSqueezeExcitationMatchesPyTorch() throws {
        try checkGoldenCase("revblock_c8_e4_se", squeezeExcitation: true, fused: false)
    }

    /// The same with MBConv's fused norm + SiLU ops (keeping only their inputs), as reversible
    /// stacks run them by default.
    func testBlockWithFusedNormActivationMatchesPyTorch() throws {
        try checkGoldenCase("revblock_c8_e4", squeezeExcitation: false, fused: true)
        try checkGoldenCase("revblock_c8_e4_se", squeezeExcitation: true, fused: true)
    }

    func checkGoldenCase(_ name: String, squeezeExcitation: Bool, fused: Bool) throws {
        guard let file = try GoldenFile.open("revblock.h5") else { throw XCTSkip("../shared absent") }
        let doc = try file.stringAttribute("doc", of: name)
        XCTAssertTrue(doc.contains("y1 = x1 + F(x2);  y2 = x2 + G(y1)"), "the block definition changed:\n\(doc)")
        let channels = Int(try file.int64Attribute("channels", of: name))
        let expansion = Int(try file.int64Attribute("expansion", of: name))
        XCTAssertEqual(try file.int64Attribute("squeeze_excitation", of: name), squeezeExcitation ? 1 : 0)

        let initializer = ParameterInitializer(seed: 3)
        func branch() -> MBConv {
            let mbconv = MBConv(channels: channels / 2, expansion: expansion, squeezeExcitation: squeezeExcitation,
                                norm: .batch, initializer: initializer)
            mbconv.recomputesNormActivation = fused
            return mbconv
        }
        let block = ReversibleBlock(f: branch(), g: branch())
        var state: [String: Tensor] = [:]
        for parameter in try file.memberNames(of: "\(name)/params") {
            state[parameter] = try file.tensor("\(name)/params/\(parameter)")
        }
        // Running statistics start at 0 / 1, as the reference's do.
        try block.load(state: state, strict: false)
        XCTAssertEqual(Set(state.keys), Set(block.namedParameters().map(\.name)), "parameter names differ from the reference")

        let x = try file.tensor("\(name)/x")
        x.requiresGrad = true
        let y = block(x)
        let yError = relativeError(y, try file.tensor("\(name)/y"))
        print("\(name)\(fused ? " fused" : ""): y relative error \(yError)")
        XCTAssertLessThan(yError, 1e-4, "y")

        for (buffer, tensor) in block.namedBuffers() {
            let error = relativeError(tensor, try file.tensor("\(name)/buffers_after_forward/\(buffer)"))
            XCTAssertLessThan(error, 1e-5, "\(buffer) after the forward")
        }
        let afterForward = block.namedBuffers().map { ($0.name, $0.tensor.toArray()) }

        Tensor.backward(roots: [y], gradients: [try file.tensor("\(name)/gy")])
        let gxError = relativeError(x.grad!, try file.tensor("\(name)/gx"))
        print("\(name)\(fused ? " fused" : ""): gx relative error \(gxError)")
        XCTAssertLessThan(gxError, 1e-4, "gx")
        var worst = 0.0
        for (parameter, tensor) in block.namedParameters() {
            guard let grad = tensor.grad else { XCTFail("\(parameter) got no gradient"); continue }
            let error = relativeError(grad, try file.tensor("\(name)/grads/\(parameter)"))
            worst = max(worst, error)
            XCTAssertLessThan(error, 1e-4, "gradient of \(parameter)")
        }
        print("\(name)\(fused ? " fused" : ""): worst parameter gradient relative error \(worst) over \(block.namedParameters().count) parameters")
        for ((buffer, before), (_, tensor)) in zip(afterForward, block.namedBuffers()) {
            XCTAssertEqual(tensor.toArray(), before, "\(buffer) moved during the reversible backward")
        }
    }
}
