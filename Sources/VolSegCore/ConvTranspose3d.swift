import Foundation

/// Transposed 3D convolution (PyTorch's `conv_transpose3d`) of `x` [N, Cin, D, H, W] with `weight`
/// [Cin, Cout / groups, kD, kH, kW]: the output is [N, Cout, (D - 1) sD - 2 pD + kD + outputPaddingD, ...].
///
/// The U-Net up-sampling case, kernel == stride without padding, has no overlapping outputs: it is
/// one GEMM `[Cout k^3, positions] = W^T x X` per slab of input rows and a scatter into the output
/// (backward: a gather and two GEMMs). Other cases use the identity that a transposed convolution
/// is the input gradient of the convolution with the same weight (col2im), and its input gradient
/// is that convolution's forward.
public func convTranspose3d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: [Int],
                            padding: [Int] = [0], outputPadding: [Int] = [0], groups: Int = 1) -> Tensor {
    precondition(x.rank == 5 && weight.rank == 5,
                 "convTranspose3d: input \(x.shape) must be [N, Cin, D, H, W], weight \(weight.shape) [Cin, Cout/groups, kD, kH, kW]")
    precondition(weight.shape[0] == x.shape[1],
                 "convTranspose3d: weight \(weight.shape) expects \(weight.shape[0]) input channels, input has \(x.shape[1])")
    let strides = ConvGeometry.perAxis(stride, name: "stride")
    let pads = ConvGeometry.perAxis(padding, name: "padding")
    let extra = ConvGeometry.perAxis(outputPadding, name: "outputPadding")
    let kernel = Array(weight.shape[2...])
    let outputSize: [Int] = (0..<3).map { axis -> Int in
        let spread: Int = (x.shape[axis + 2] - 1) * strides[axis]
        return spread - 2 * pads[axis] + kernel[axis] + extra[axis]
    }
    for axis in 0..<3 {
        precondition(extra[axis] >= 0 && extra[axis] < strides[axis],
                     "convTranspose3d: outputPadding \(outputPadding) must be below the stride \(stride)")
        precondition(outputSize[axis] > 0, "convTranspose3d: input \(x.shape) with padding \(padding) gives no output")
    }
    // The convolution whose input gradient this is: it maps the output shape back to x's shape.
    let geometry = ConvGeometry(input: [x.shape[0], weight.shape[1] * groups] + outputSize, weight: weight.shape,
                                stride: strides, padding: pads, groups: groups)
    precondition(geometry.output == Array(x.shape[2...]), "convTranspose3d: inconsistent sizes for input \(x.shape)")
    // The same multiply-adds as that convolution's forward.
    ConvWorkCounter.add(geometry.multiplyAdds)
    if let bias {
        precondition(bias.shape == [geometry.inputChannels],
                     "convTranspose3d: bias must be [\(geometry.inputChannels)], got \(bias.shape)")
    }
    let planned = x.isPlanned || weight.isPlanned || (bias?.isPlanned ?? false)
    let needs = ConvGradients(input: x.needsGrad, weight: weight.needsGrad, bias: bias?.needsGrad ?? false)
    let scatter = kernel == strides && pads == [0, 0, 0] && extra == [0, 0, 0] && groups == 1

    let y: Tensor = OpProfile.measure("conv_transpose3d") {
        if scatter {
            return ConvTransposeScatter.forward(x, weight: weight, bias: bias, geometry: geometry, planned: planned)
        }
        let asGradient = ConvGradients(input: true, weight: false, bias: false)
        let y = ConvKernels.backward(x, input: nil, weight: weight, geometry: geometry, needs: asGradient).input!
        if let bias, !planned { addChannelBias(y, bias) }
        return y
    }
    guard GradMode.isEnabled && needs.any else { return y }
    let xSaved = needs.weight ? x.detached() : nil
    let wSaved = needs.input ? weight.detached() : nil
    let hasBias = bias != nil
    return Tensor.record("conv_transpose3d", output: y, inputs: [x, weight] + (bias.map { [$0] } ?? [])) { gy in
        var grads = ConvGradientTensors()
        if scatter {
            grads = ConvTransposeScatter.backward(gy, input: xSaved, weight: wSaved, geometry: geometry, needs: needs)
        } else {
            if let wSaved, needs.input {
                grads.input = ConvKernels.forward(gy, weight: wSaved, bias: nil, geometry: geometry, planned: gy.isPlanned)
            }
            if let xSaved, needs.weight {
                let asWeight = ConvGradients(input: false, weight: true, bias: false)
                grads.weight = ConvKernels.backward(xSaved, input: gy, weight: nil, geometry: geometry, needs: asWeight).weight
            }
            if needs.bias { grads.bias = channelSums(gy, channels: geometry.inputChannels) }
        }
        return [grads.input, grads.weight] + (hasBias ? [grads.bias] : [])
    }
}

/// Adds `bias[c]` to every value of channel c of an [N, C, ...] tensor, in place (on a tensor
/// the caller has just made).
func addChannelBias(_ y: Tensor, _ bias: Tensor) {
    let channels = y.shape[1], planes = y.shape[0] * channels
    let spatial = y.count / max(1, planes)
    let yp = y.data, bp = bias.data
    Parallel.forEach(planes) { plane in
        let b = bp[plane % channels], row = yp + plane * spatial
        for i in 0..<spatial { row[i] += b }
    }
}

/// The kernel == stride transposed convolution: GEMM + scatter, gather + GEMM.
enum ConvTransposeScatter {
    /// Slabs of input rows (d, h) whose [Cout k^3, positions] panel fits the im2col budget.
    static func slabs(_ g: ConvGeometry) -> (rows: [Range<Int>], panelCount: Int) {
        let (inD, inH, inW) = (g.output[0], g.output[1], g.output[2])
        let panelRows = g.inputChannels * g.kernelVolume
        let bytesPerRow = max(1, panelRows * inW * MemoryLayout<Float>.stride)
        let total = inD * inH
        let fitting = max(1, ConvTuning.panelBudgetBytes / bytesPerRow)
        let count = max(1, (total + fitting - 1) / fitting)
        let perSlab = max(1, (total + count - 1) / count)
        let rows = stride(from: 0, to: total, by: perSlab).map { $0..<min(total, $0 + perSlab) }
        return (rows, panelRows * min(perSlab, total) * inW)
    }

    // In `geometry` (the convolution this is the transpose of), "output" is x's size and
    // "input" is y's size, "inputChannels" is the transposed convolution's output channels.
    static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        let y = Tensor.empty(g.inputShape, planned: planned)
        let (rows, panelCount) = slabs(g)
        let panel = Tensor.empty([panelCount], planned: planned)
        if planned { return y }
        let sourceChannels = g.outputChannels, panelRows = g.inputChannels * g.kernelVolume
        let xp = x.data, wp = weight.data, yp = y.data, pp = panel.data, bp = bias?.data
        for n in 0..<g.batch {
            for slab in rows {
                let columns = slab.count * g.output[2]
                BLAS.sgemm(transposeA: true, m: panelRows, n: columns, k: sourceChannels,
                           a: wp, lda: panelRows,
                           b: xp + n * sourceChannels * g.outputVolume + slab.lowerBound * g.output[2], ldb: g.outputVolume,
                           c: pp, ldc: columns)
                move(panel: pp, output: yp + n * g.inputChannels * g.inputVolume, geometry: g, rows: slab,
                     bias: bp, toOutput: true)
            }
        }
        return y
    }

    static func backward(_ gy: Tensor, input x: Tensor?, weight w: Tensor?, geometry g: ConvGeometry,
                         needs: ConvGradients) -> ConvGradientTensors {
        let planned = gy.isPlanned || (x?.isPlanned ?? false) || (w?.isPlanned ?? false)
        var result = ConvGradientTensors()
        if needs.input { result.input = Tensor.empty(g.outputShape, planned: planned) }
        if needs.weight { result.weight = Tensor.zeros([g.outputChannels, g.inputChannels] + g.kernel, planned: planned) }
        if needs.bias { result.bias = channelSums(gy, channels: g.inputChannels) }
        guard needs.input || needs.weight else { return result }
        let (rows, panelCount) = slabs(g)
        let panel = Tensor.empty([panelCount], planned: planned)
        if planned { return result }
        let sourceChannels = g.outputChannels, panelRows = g.inputChannels * g.kernelVolume
        let gyp = gy.data, pp = panel.data
        for n in 0..<g.batch {
            for slab in rows {
                let columns = slab.count * g.output[2]
                let sourceOffset = n * sourceChannels * g.outputVolume + slab.lowerBound * g.output[2]
                move(panel: pp, output: UnsafeMutablePointer(mutating: gyp) + n * g.inputChannels * g.inputVolume,
                     geometry: g, rows: slab, bias: nil, toOutput: false)
                if let gx = result.input, let w {
                    BLAS.sgemm(m: sourceChannels, n: columns, k: panelRows, a: w.data, lda: panelRows,
                               b: pp, ldb: columns, c: gx.data + sourceOffset, ldc: g.outputVolume)
                }
                if let gw = result.weight, let x {
                    BLAS.sgemm(transposeB: true, m: sourceChannels, n: panelRows, k: columns,
                               a: x.data + sourceOffset, lda: g.outputVolume, b: pp, ldb: columns,
                               beta: 1, c: gw.data, ldc: panelRows)
                }
            }
        }
        return result
    }

    /// Scatter (toOutput, adding the bias) or gather between the panel [Cout, kD, kH, kW, rows, W]
    /// and the output [Cout, D kD, H kH, W kW] of one batch item. Output row (d kD + kd, h kH + kh)
    /// interleaves the kW taps: y[w kW + kw] = panel[kw][w]. Spread over output channels.
    static func move(panel: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
                     geometry g: ConvGeometry, rows: Range<Int>, bias: UnsafePointer<Float>?, toOutput: Bool) {
        let (kD, kH, kW) = (g.kernel[0], g.kernel[1], g.kernel[2])
        let (inH, inW) = (g.output[1], g.output[2])
        let (outH, outW) = (g.input[1], g.input[2])
        let columns = rows.count * inW
        Parallel.forEach(g.inputChannels) { co in
            let b = bias?[co] ?? 0
            let channel = output + co * g.inputVolume
            for kd in 0..<kD {
                for kh in 0..<kH {
                    let tapRows = panel + ((co * kD + kd) * kH + kh) * kW * columns
                    for (i, r) in rows.enumerated() {
                        let d = r / inH, h = r % inH
                        let outRow = channel + ((d * kD + kd) * outH + h * kH + kh) * outW
                        let source = tapRows + i * inW
                        for kw in 0..<kW {
                            let tap = source + kw * columns
                            if toOutput {
                                for w in 0..<inW { outRow[w * kW + kw] = tap[w] + b }
                            } else {
                                for w in 0..<inW { tap[w] = outRow[w * kW + kw] }
                            }
                        }
                    }
                }
            }
        }
    }
}
