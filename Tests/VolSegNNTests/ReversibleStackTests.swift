import Foundation
@testable import VolSegCore
@testable import VolSegNN
import VolSegTestSupport
import XCTest

/// A stack of reversible MBConv couplings: its input rebuilt from its output, its gradients equal to
/// those of the same blocks run with stored activations, and its activation memory independent of
/// its depth (the ledger in planning mode, which counts exactly what a real run allocates).
final class ReversibleStackTests: XCTestCase {
    func makeStack(depth: Int, channels: Int = 8, squeezeExcitation: Bool = false, norm: NormKind = .batch,
                   seed: UInt64 = 5, planned: Bool = false, fused: Bool = true) -> ReversibleStack {
        let initializer = ParameterInitializer(seed: seed, planned: planned)
        func branch() -> MBConv {
            let mbconv = MBConv(channels: channels / 2, expansion: 4, squeezeExcitation: squeezeExcitation, norm: norm,
                                initializer: initializer)
            mbconv.recomputesNormActivation = fused
            return mbconv
        }
        return ReversibleStack(blocks: (0..<depth).map { _ in ReversibleBlock(f: branch(), g: branch()) })
    }

    func setFused(_ stack: ReversibleStack, _ fused: Bool) {
        for block in stack.blocks {
            (block.f as! MBConv).recomputesNormActivation = fused
            (block.g as! MBConv).recomputesNormActivation = fused
        }
    }

    /// Float32 reconstruction through BatchNorm-in-training-mode MBConv blocks: printed per depth,
    /// and below 1e-4 relative at depth 16.
    func testReconstructionErrorPerDepthStaysSmall() {
        let x = seededTensor([2, 8, 6, 6, 6], seed: 21)
        var errors: [(Int, Double)] = []
        for depth in [1, 2, 4, 8, 16, 32, 64] {
            let stack = makeStack(depth: depth, seed: UInt64(depth))
            let y = withNoGrad { stack(x) }
            let rebuilt = stack.inverse(y)
            let error = relativeError(rebuilt, x)
            errors.append((depth, error))
            print("reversible MBConv stack depth \(depth): reconstruction relative error \(error)")
            if depth <= 16 { XCTAssertLessThan(error, 1e-4, "depth \(depth)") }
        }
        // Error grows with depth, but far from catastrophically (no amplification per block).
        XCTAssertLessThan(errors.last!.1, 1e-3)
    }

    /// Reversible and stored runs of the same blocks: input gradient and every parameter gradient
    /// agree to 1e-4 relative, and both move the running statistics once, identically (to 1e-5
    /// relative: the fused norm + SiLU computes the same statistics in another order). The stored
    /// run is plain autograd on the separate ops; the reversible one uses the fused ops.
    func testGradientsEqualTheStoredNetwork() {
        for (squeezeExcitation, norm) in [(false, NormKind.batch), (true, .batch), (false, .group(4)), (false, .instance)] {
            let stack = makeStack(depth: 4, squeezeExcitation: squeezeExcitation, norm: norm, seed: 17)
            let initialBuffers = stack.namedBuffers().map { $0.tensor.copy() }
            let gy = seededTensor([2, 8, 6, 5, 7], seed: 33)
            func run(stored: Bool) -> (gx: [Float], grads: [[Float]], buffers: [[Float]]) {
                for (buffer, initial) in zip(stack.namedBuffers(), initialBuffers) {
                    buffer.tensor.data.update(from: initial.data, count: initial.count)
                }
                for p in stack.namedParameters() { p.tensor.grad = nil }
                stack.storesActivations = stored
                setFused(stack, !stored)
                let x = seededTensor([2, 8, 6, 5, 7], seed: 9)
                x.requiresGrad = true
                let y = stack(x)
                Tensor.backward(roots: [y], gradients: [gy])
                return (x.grad!.toArray(), stack.namedParameters().map { $0.tensor.grad!.toArray() },
                        stack.namedBuffers().map { $0.tensor.toArray() })
            }
            let stored = run(stored: true), reversible = run(stored: false)
            let label = "SE \(squeezeExcitation), norm \(norm)"
            let gxError = relativeError(reversible.gx, stored.gx)
            var worst = 0.0
            for (name, (a, b)) in zip(stack.namedParameters().map(\.name), zip(reversible.grads, stored.grads)) {
                let error = relativeError(a, b)
                worst = max(worst, error)
                XCTAssertLessThan(error, 1e-4, "\(label): gradient of \(name)")
            }
            print("\(label): reversible vs stored gx \(gxError), worst parameter gradient \(worst)")
            XCTAssertLessThan(gxError, 1e-4, label)
            for (a, b) in zip(reversible.buffers, stored.buffers) {
                XCTAssertLessThan(relativeError(a, b), 1e-5, "\(label): running statistics")
            }
        }
    }

    /// A stack right after the network input (which needs no gradient) still trains its weights.
    func testParametersGetGradientsWhenTheInputNeedsNone() {
        let stack = makeStack(depth: 2)
        let y = stack(seededTensor([1, 8, 4, 4, 4], seed: 2))
        Tensor.backward(roots: [y], gradients: [seededTensor(y.shape, seed: 3)])
        for (name, p) in stack.namedParameters() { XCTAssertNotNil(p.grad, name) }
    }

    /// Peak bytes of forward + backward, with the parameter gradients allocated beforehand so that
    /// only activations, their gradients and kernel scratch are measured.
    func activationPeak(depth: Int, stored: Bool, planned: Bool, shape: [Int] = [1, 16, 32, 32, 32],
                        fused: Bool = true) -> Int {
        let stack = makeStack(depth: depth, channels: shape[1], planned: planned, fused: fused && !stored)
        stack.storesActivations = stored
        for (_, p) in stack.namedParameters() { p.grad = Tensor.zeros(p.shape, planned: planned) }
        let x = planned ? Tensor.planned(shape) : seededTensor(shape, seed: 4)
        x.requiresGrad = true
        let gy = planned ? Tensor.planned(shape) : seededTensor(shape, seed: 5)
        return MemoryLedger.shared.measurePeak {
            let y = stack(x)
            Tensor.backward(roots: [y], gradients: [gy])
        }.peakBytes
    }

    func testReversibleStackMemoryDoesNotGrowWithDepth() {
        let depths = [1, 2, 4, 8, 16, 32]
        let reversible = depths.map { activationPeak(depth: $0, stored: false, planned: true) }
        let unfused = depths.map { activationPeak(depth: $0, stored: false, planned: true, fused: false) }
        let stored = depths.map { activationPeak(depth: $0, stored: true, planned: true) }
        let mib = { (b: Int) in String(format: "%.1f MiB", Double(b) / 1048576) }
        for (i, depth) in depths.enumerated() {
            print("stack of \(depth) blocks, 16 x 32^3: activation peak reversible \(mib(reversible[i])) "
                  + "(without fused norm + SiLU \(mib(unfused[i]))), stored \(mib(stored[i]))")
        }
        // Exactly constant: every block's backward allocates the same tensors.
        XCTAssertEqual(Set(reversible).count, 1, "reversible peaks \(reversible)")
        XCTAssertEqual(Set(unfused).count, 1, "reversible peaks without fusion \(unfused)")
        XCTAssertLessThan(reversible[0], unfused[0])
        // The stored network keeps every block's activations: linear growth.
        for i in 1..<depths.count { XCTAssertGreaterThan(stored[i], stored[i - 1]) }
        XCTAssertGreaterThan(Double(stored.last!), 20 * Double(reversible.last!))
    }

    func testPlannedPeakEqualsTheRealOne() {
        for (stored, fused) in [(false, true), (false, false), (true, false)] {
            let planned = activationPeak(depth: 3, stored: stored, planned: true, shape: [2, 8, 8, 8, 8], fused: fused)
            let real = activationPeak(depth: 3, stored: stored, planned: false, shape: [2, 8, 8, 8, 8], fused: fused)
            XCTAssertEqual(planned, real, "stored \(stored), fused \(fused)")
        }
    }
}
