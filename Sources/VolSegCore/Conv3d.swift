import Foundation

/// 3D convolution (PyTorch's `conv3d`, cross-correlation) of `x` [N, Cin, D, H, W] with `weight`
/// [Cout, Cin / groups, kD, kH, kW] and an optional `bias` [Cout]. `stride` and `padding` hold one
/// value for all axes or one per axis (D, H, W); padding is zeros on both sides.
///
/// The kernel is chosen from the shapes: depthwise (groups == Cin == Cout) runs a direct SIMD
/// kernel; every other case is a GEMM, straight on the input for 1x1x1 stride-1 convolutions and
/// on bounded im2col panels otherwise. Backward computes only the gradients that are needed.
public func conv3d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1],
                   padding: [Int] = [0], groups: Int = 1) -> Tensor {
    let geometry = ConvGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding, groups: groups)
    if let bias {
        precondition(bias.shape == [geometry.outputChannels],
                     "conv3d: bias must be [\(geometry.outputChannels)], got \(bias.shape)")
    }
    let planned = x.isPlanned || weight.isPlanned || (bias?.isPlanned ?? false)
    let needs = ConvGradients(input: x.needsGrad, weight: weight.needsGrad, bias: bias?.needsGrad ?? false)
    let recording = GradMode.isEnabled && needs.any
    let hasBias = bias != nil

    if geometry.isDepthwise {
        let y = DepthwiseConv3d.forward(x, weight: weight, bias: bias, geometry: geometry, planned: planned)
        guard recording else { return y }
        let xSaved = needs.weight ? x.detached() : nil
        let wSaved = needs.input ? weight.detached() : nil
        return Tensor.record("depthwise_conv3d", output: y, inputs: [x, weight] + (bias.map { [$0] } ?? [])) { gy in
            let grads = DepthwiseConv3d.backward(gy, input: xSaved, weight: wSaved, geometry: geometry, needs: needs)
            return [grads.input, grads.weight] + (hasBias ? [grads.bias] : [])
        }
    }

    let y = ConvGEMM.forward(x, weight: weight, bias: bias, geometry: geometry, planned: planned)
    guard recording else { return y }
    let xSaved = needs.weight ? x.detached() : nil
    let wSaved = needs.input ? weight.detached() : nil
    return Tensor.record("conv3d", output: y, inputs: [x, weight] + (bias.map { [$0] } ?? [])) { gy in
        let grads = ConvGEMM.backward(gy, input: xSaved, weight: wSaved, geometry: geometry, needs: needs)
        return [grads.input, grads.weight] + (hasBias ? [grads.bias] : [])
    }
}

/// Which gradients a convolution's backward must produce.
struct ConvGradients {
    var input: Bool
    var weight: Bool
    var bias: Bool
    var any: Bool { input || weight || bias }
}

/// The gradients a convolution's backward returns (nil where not needed).
struct ConvGradientTensors {
    var input: Tensor?
    var weight: Tensor?
    var bias: Tensor?
}

/// Sums an [N, C, spatial...] gradient over everything but the channel: the bias gradient.
/// Accumulates in Float64 (a sum over millions of voxels).
func channelSums(_ gy: Tensor, channels: Int) -> Tensor {
    let out = Tensor.empty([channels], planned: gy.isPlanned)
    if gy.isPlanned { return out }
    let batch = gy.shape[0]
    let spatial = gy.count / max(1, batch * channels)
    let g = gy.data, o = out.data
    Parallel.forEach(channels) { c in
        var total = 0.0
        for n in 0..<batch {
            let row = g + (n * channels + c) * spatial
            var i = 0
            // Float32 partial sums of 1024 values keep the SIMD speed; Float64 across them.
            while i < spatial {
                let end = min(spatial, i + 1024)
                var partial = SIMD8<Float>()
                while i + 8 <= end {
                    partial += UnsafeRawPointer(row + i).loadUnaligned(as: SIMD8<Float>.self)
                    i += 8
                }
                var s = Double(partial.sum())
                while i < end { s += Double(row[i]); i += 1 }
                total += s
            }
        }
        o[c] = Float(total)
    }
    return out
}
