import Foundation

/// 3D convolution (PyTorch's `conv3d`, cross-correlation) of `x` [N, Cin, D, H, W] with `weight`
/// [Cout, Cin / groups, kD, kH, kW] and an optional `bias` [Cout]. `stride` and `padding` hold one
/// value for all axes or one per axis (D, H, W); padding is zeros on both sides.
///
/// The kernel is chosen from the shapes: depthwise (groups == Cin == Cout) runs a direct SIMD
/// kernel; stride-1 convolutions run the direct AVX2 kernel where our AVX2 code is in use
/// (`ConvDirect`); every other case is a GEMM, straight on the input for 1x1x1 stride-1
/// convolutions and on bounded im2col panels otherwise. Backward computes only the gradients that are needed.
public func conv3d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1],
                   padding: [Int] = [0], groups: Int = 1) -> Tensor {
    let geometry = ConvGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding, groups: groups)
    ConvWorkCounter.add(geometry.multiplyAdds)
    checkBias(bias, geometry)
    let planned = x.isPlanned || weight.isPlanned || (bias?.isPlanned ?? false)
    let needs = ConvGradients(input: x.needsGrad, weight: weight.needsGrad, bias: bias?.needsGrad ?? false)
    let recording = GradMode.isEnabled && needs.any
    let hasBias = bias != nil

    if geometry.isDepthwise {
        let y = OpProfile.measure("depthwise_conv3d") {
            DepthwiseConv3d.forward(x, weight: weight, bias: bias, geometry: geometry, planned: planned)
        }
        guard recording else { return y }
        let xSaved = needs.weight ? x.detached() : nil
        let wSaved = needs.input ? weight.detached() : nil
        return Tensor.record("depthwise_conv3d", output: y, inputs: [x, weight] + (bias.map { [$0] } ?? [])) { gy in
            let grads = DepthwiseConv3d.backward(gy, input: xSaved, weight: wSaved, geometry: geometry, needs: needs)
            return [grads.input, grads.weight] + (hasBias ? [grads.bias] : [])
        }
    }

    // Profiled per kernel path, so a profile shows which path a slow convolution took.
    let y = OpProfile.measure("conv3d", path: { ConvKernels.forwardPath(geometry) }) {
        ConvKernels.forward(x, weight: weight, bias: bias, geometry: geometry, planned: planned)
    }
    guard recording else { return y }
    let xSaved = needs.weight ? x.detached() : nil
    let wSaved = needs.input ? weight.detached() : nil
    return Tensor.record("conv3d", output: y, inputs: [x, weight] + (bias.map { [$0] } ?? [])) { gy in
        let grads = ConvKernels.backward(gy, input: xSaved, weight: wSaved, geometry: geometry, needs: needs)
        return [grads.input, grads.weight] + (hasBias ? [grads.bias] : [])
    }
}

/// `conv3d(Tensor.concat(parts, axis: 1), ...)` without building the concatenation where no
/// gradient is recorded and a direct kernel (`ConvDirect`) takes the convolution: its panels read
/// each input channel from the part that holds it. A U-Net decoder's first convolution takes the
/// upsampled tensor and the skip this way, saving a copy of both (a memory-bound pass over the
/// largest tensors of the forward) and the concatenation's memory. Elsewhere (training, the GEMM
/// paths) the parts are concatenated first; the result is the same either way.
public func conv3d(concatenating parts: [Tensor], weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1],
                   padding: [Int] = [0], groups: Int = 1) -> Tensor {
    let shape = Tensor.concatenatedShape(parts, axis: 1)
    let geometry = ConvGeometry(input: shape, weight: weight.shape, stride: stride, padding: padding, groups: groups)
    let recording = GradMode.isEnabled && (parts.contains { $0.needsGrad } || weight.needsGrad || (bias?.needsGrad ?? false))
    guard parts.count > 1, !recording, !geometry.isDepthwise, ConvDirect.applies(geometry) else {
        return conv3d(parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 1), weight: weight, bias: bias,
                      stride: stride, padding: padding, groups: groups)
    }
    ConvWorkCounter.add(geometry.multiplyAdds)
    checkBias(bias, geometry)
    let planned = parts.contains { $0.isPlanned } || weight.isPlanned || (bias?.isPlanned ?? false)
    return OpProfile.measure("conv3d", path: { "\(ConvKernels.forwardPath(geometry)), \(parts.count) inputs unconcatenated" }) {
        ConvDirect.forward(parts, weight: weight, bias: bias, geometry: geometry, planned: planned)
    }
}

private func checkBias(_ bias: Tensor?, _ g: ConvGeometry) {
    guard let bias else { return }
    precondition(bias.shape == [g.outputChannels], "conv3d: bias must be [\(g.outputChannels)], got \(bias.shape)")
}

/// Picks the kernel of each part of a (non-depthwise) convolution.
enum ConvKernels {
    /// The forward's path, as `volseg bench unet --profile` names it: the direct kernel's
    /// `GEMMKernel` name, or "gemm" (im2col or W-shifted panels, whichever GEMM they reach), and
    /// the stride where it is not 1.
    static func forwardPath(_ g: ConvGeometry) -> String {
        let path = ConvDirect.variant(g)?.logged.rawValue ?? "gemm"
        return g.stride == [1, 1, 1] ? path : "\(path), stride \(g.stride.map(String.init).joined(separator: "x"))"
    }

    static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        if ConvDirect.applies(g) {
            return ConvDirect.forward([x], weight: weight, bias: bias, geometry: g, planned: planned)
        }
        if ConvShiftedGEMM.applies(g) {
            return ConvShiftedGEMM.forward(x, weight: weight, bias: bias, geometry: g, planned: planned)
        }
        return ConvGEMM.forward(x, weight: weight, bias: bias, geometry: g, planned: planned)
    }

    static func backward(_ gy: Tensor, input x: Tensor?, weight w: Tensor?, geometry g: ConvGeometry,
                         needs: ConvGradients) -> ConvGradientTensors {
        let planned = gy.isPlanned || (x?.isPlanned ?? false) || (w?.isPlanned ?? false)
        var result = ConvGradientTensors()
        if needs.input, let w {
            result.input = gathersInputGradient(g)
                ? inputGradientByConvolution(gy, weight: w, geometry: g, planned: planned)
                : ConvGEMM.inputGradient(gy, weight: w, geometry: g, planned: planned)
        }
        if needs.weight, let x {
            result.weight = ConvDirect.appliesToWeightGradient(g)
                ? ConvDirect.weightGradient(gy, input: x, geometry: g, planned: planned)
                : ConvShiftedGEMM.applies(g)
                ? ConvShiftedGEMM.weightGradient(gy, input: x, geometry: g, planned: planned)
                : ConvGEMM.weightGradient(gy, input: x, geometry: g, planned: planned)
        }
        if needs.bias { result.bias = channelSums(gy, channels: g.outputChannels) }
        return result
    }

    /// With stride 1 the input gradient is itself a convolution: of gy with the weight flipped in
    /// space and with its channel axes swapped, padded by k - 1 - pad. It then runs on the fast
    /// forward kernels and gathers, where col2im would scatter-add (which cannot be split over
    /// slabs: neighbouring slabs add into the same input rows).
    static func gathersInputGradient(_ g: ConvGeometry) -> Bool {
        g.stride == [1, 1, 1] && !g.isPointwise && (0..<3).allSatisfy { g.padding[$0] <= g.kernel[$0] - 1 }
    }

    static func inputGradientByConvolution(_ gy: Tensor, weight: Tensor, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        let inputPerGroup = g.groupInputChannels, outputPerGroup = g.groupOutputChannels
        let flipped = Tensor.empty([g.inputChannels, outputPerGroup] + g.kernel, planned: planned)
        if !planned {
            let src = weight.data, dst = flipped.data, taps = g.kernelVolume
            for co in 0..<g.outputChannels {
                let group = co / outputPerGroup, cog = co % outputPerGroup
                for ci in 0..<inputPerGroup {
                    let from = src + (co * inputPerGroup + ci) * taps
                    let to = dst + ((group * inputPerGroup + ci) * outputPerGroup + cog) * taps
                    for t in 0..<taps { to[taps - 1 - t] = from[t] }
                }
            }
        }
        let padding = (0..<3).map { g.kernel[$0] - 1 - g.padding[$0] }
        let transposed = ConvGeometry(input: gy.shape, weight: flipped.shape, stride: [1], padding: padding, groups: g.groups)
        precondition(transposed.output == g.input, "conv3d backward: sizes \(transposed.output) vs \(g.input)")
        return forward(gy, weight: flipped, bias: nil, geometry: transposed, planned: planned)
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
