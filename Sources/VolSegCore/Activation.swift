import Foundation

// Pointwise activations, any shape. Each saves for backward only what its derivative needs: the
// output where the derivative can be read from it (ReLU, LeakyReLU, ReLU6, sigmoid), because the
// next layer usually keeps that output alive anyway; the input for SiLU.

extension Tensor {
    /// max(x, 0). The gradient at 0 is 0, as in PyTorch.
    public func relu() -> Tensor {
        let y = applyPointwise(self, vector: { $0.replacing(with: 0, where: $0 .< 0) },
                               scalar: { max($0, 0) })
        let saved = y.detached()
        return Tensor.record("relu", output: y, inputs: [self]) { g in
            [applyGradient(g, saved, vector: { g, y in g.replacing(with: 0, where: y .<= 0) },
                           scalar: { g, y in y > 0 ? g : 0 })]
        }
    }

    /// x for x > 0, slope * x otherwise.
    public func leakyReLU(slope: Float = 0.01) -> Tensor {
        let y = applyPointwise(self, vector: { $0.replacing(with: $0 * slope, where: $0 .< 0) },
                               scalar: { $0 < 0 ? $0 * slope : $0 })
        // With slope >= 0 the output's sign is the input's, so the output tells the branch.
        let saved = slope >= 0 ? y.detached() : self.detached()
        return Tensor.record("leaky_relu", output: y, inputs: [self]) { g in
            [applyGradient(g, saved, vector: { g, s in g.replacing(with: g * slope, where: s .<= 0) },
                           scalar: { g, s in s > 0 ? g : g * slope })]
        }
    }

    /// min(max(x, 0), 6), MobileNet's activation. The gradient is zero at both ends.
    public func relu6() -> Tensor {
        let y = applyPointwise(self, vector: { lanesMin(lanesMax($0, Lanes()), Lanes(repeating: 6)) },
                               scalar: { min(max($0, 0), 6) })
        let saved = y.detached()
        return Tensor.record("relu6", output: y, inputs: [self]) { g in
            [applyGradient(g, saved, vector: { g, y in g.replacing(with: 0, where: (y .<= 0) .| (y .>= 6)) },
                           scalar: { g, y in y > 0 && y < 6 ? g : 0 })]
        }
    }

    /// 1 / (1 + exp(-x)).
    public func sigmoid() -> Tensor {
        let y = applyPointwise(self, vector: { vectorSigmoid($0) }, scalar: { scalarSigmoid($0) })
        let saved = y.detached()
        return Tensor.record("sigmoid", output: y, inputs: [self]) { g in
            [applyGradient(g, saved, vector: { g, y in g * y * (1 - y) }, scalar: { g, y in g * y * (1 - y) })]
        }
    }

    /// x * sigmoid(x) (Swish), EfficientNet's activation.
    public func silu() -> Tensor {
        let y = applyPointwise(self, vector: { $0 * vectorSigmoid($0) }, scalar: { $0 * scalarSigmoid($0) })
        let saved = self.detached()
        return Tensor.record("silu", output: y, inputs: [self]) { g in
            [applyGradient(g, saved, vector: { g, x in
                let s = vectorSigmoid(x)
                return g * s * (1 + x * (1 - s))
            }, scalar: { g, x in
                let s = scalarSigmoid(x)
                return g * s * (1 + x * (1 - s))
            })]
        }
    }
}

@inline(__always)
func scalarSigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }

/// A new tensor f(x), sixteen lanes at a time; planned in, planned out.
@inline(__always)
func applyPointwise(_ x: Tensor, vector: (Lanes) -> Lanes, scalar: (Float) -> Float) -> Tensor {
    let out = Tensor.empty(x.shape, planned: x.isPlanned)
    if x.isPlanned { return out }
    let src = UnsafePointer(x.data), dst = out.data
    forEachLaneBlock(x.count, vector: { i in VectorMemory.store(vector(VectorMemory.load(src + i)), dst + i) },
                     scalar: { i in dst[i] = scalar(src[i]) })
    return out
}

/// A new tensor d(g, saved): the input gradient from the output gradient and a saved tensor.
@inline(__always)
func applyGradient(_ g: Tensor, _ saved: Tensor, vector: (Lanes, Lanes) -> Lanes,
                   scalar: (Float, Float) -> Float) -> Tensor {
    precondition(g.shape == saved.shape, "gradient \(g.shape) for an activation of \(saved.shape)")
    let out = Tensor.empty(g.shape, planned: g.isPlanned || saved.isPlanned)
    if out.isPlanned { return out }
    let gp = UnsafePointer(g.data), sp = UnsafePointer(saved.data), dst = out.data
    forEachLaneBlock(g.count, vector: { i in
        VectorMemory.store(vector(VectorMemory.load(gp + i), VectorMemory.load(sp + i)), dst + i)
    }, scalar: { i in dst[i] = scalar(gp[i], sp[i]) })
    return out
}
