import Foundation

/// Convolution as GEMM, for every case but depthwise.
///
/// Per batch item and group, `Y[Cout/g, positions] = W[Cout/g, K] x panel[K, positions]`, with
/// K = Cin/g * kD * kH * kW. A 1x1x1 stride-1 convolution needs no panel: the input's [C, DHW]
/// view is the panel. Otherwise the panel is built one slab of output rows at a time (see
/// `ConvSlabPlan`), so scratch stays bounded whatever the volume. im2col and col2im spread over
/// the cores with `Parallel`; the GEMMs run on the calling thread with OpenBLAS's own threads
/// (never inside a `Parallel` loop, where the two thread pools would fight).
enum ConvGEMM {
    static func usesPanel(_ g: ConvGeometry) -> Bool { !(g.isPointwise && g.stride == [1, 1, 1]) }

    static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        let y = Tensor.empty(g.outputShape, planned: planned)
        let plan = ConvSlabPlan(g)
        let panel = usesPanel(g) ? Tensor.empty([plan.panelCount], planned: planned) : nil
        if planned { return y }

        let inputChannelsPerGroup = g.groupInputChannels, outputChannelsPerGroup = g.groupOutputChannels
        let patch = g.patchSize, inputVolume = g.inputVolume, outputVolume = g.outputVolume
        let xp = x.data, wp = weight.data, yp = y.data, bp = bias?.data
        for n in 0..<g.batch {
            for group in 0..<g.groups {
                let groupInput = xp + (n * g.inputChannels + group * inputChannelsPerGroup) * inputVolume
                let groupOutput = yp + (n * g.outputChannels + group * outputChannelsPerGroup) * outputVolume
                let groupWeight = wp + group * outputChannelsPerGroup * patch
                let groupBias = bp.map { $0 + group * outputChannelsPerGroup }
                guard let panel else {
                    if let groupBias {
                        fill(groupOutput, rows: outputChannelsPerGroup, columns: outputVolume, stride: outputVolume, with: groupBias)
                    }
                    BLAS.sgemm(m: outputChannelsPerGroup, n: outputVolume, k: patch,
                               a: groupWeight, lda: patch, b: groupInput, ldb: inputVolume,
                               beta: groupBias == nil ? 0 : 1, c: groupOutput, ldc: outputVolume)
                    continue
                }
                for rows in plan.slabs {
                    let columns = rows.count * g.output[2]
                    let slabOutput = groupOutput + rows.lowerBound * g.output[2]
                    Im2col.fill(panel: panel.data, input: groupInput, geometry: g, rows: rows)
                    if let groupBias {
                        fill(slabOutput, rows: outputChannelsPerGroup, columns: columns, stride: outputVolume, with: groupBias)
                    }
                    BLAS.sgemm(m: outputChannelsPerGroup, n: columns, k: patch,
                               a: groupWeight, lda: patch, b: panel.data, ldb: columns,
                               beta: groupBias == nil ? 0 : 1, c: slabOutput, ldc: outputVolume)
                }
            }
        }
        return y
    }

    /// Gradients of the input (col2im of W^T x gY), the weight (gY x panel^T, summed over slabs
    /// and the batch) and the bias, each only when asked for. `input` is needed only for the
    /// weight gradient, `weight` only for the input gradient.
    static func backward(_ gy: Tensor, input x: Tensor?, weight w: Tensor?, geometry g: ConvGeometry,
                         needs: ConvGradients) -> ConvGradientTensors {
        let planned = gy.isPlanned || (x?.isPlanned ?? false) || (w?.isPlanned ?? false)
        let panelled = usesPanel(g)
        var result = ConvGradientTensors()
        if needs.input {
            // col2im adds into the gradient, and strided kernels leave some inputs untouched.
            result.input = panelled ? Tensor.zeros(g.inputShape, planned: planned) : Tensor.empty(g.inputShape, planned: planned)
        }
        if needs.weight { result.weight = Tensor.zeros(g.weightShape, planned: planned) }
        if needs.bias { result.bias = channelSums(gy, channels: g.outputChannels) }
        let plan = ConvSlabPlan(g)
        let panel = panelled && needs.weight ? Tensor.empty([plan.panelCount], planned: planned) : nil
        let gradientPanel = panelled && needs.input ? Tensor.empty([plan.panelCount], planned: planned) : nil
        if planned || !(needs.input || needs.weight) { return result }

        let inputChannelsPerGroup = g.groupInputChannels, outputChannelsPerGroup = g.groupOutputChannels
        let patch = g.patchSize, inputVolume = g.inputVolume, outputVolume = g.outputVolume
        let gyp = gy.data
        let xp = needs.weight ? x!.data : nil
        let wp = needs.input ? w!.data : nil
        let gxp = result.input?.data, gwp = result.weight?.data
        for n in 0..<g.batch {
            for group in 0..<g.groups {
                let inputOffset = (n * g.inputChannels + group * inputChannelsPerGroup) * inputVolume
                let groupGradOutput = gyp + (n * g.outputChannels + group * outputChannelsPerGroup) * outputVolume
                let weightOffset = group * outputChannelsPerGroup * patch
                if !panelled {
                    if let gxp, let wp {
                        BLAS.sgemm(transposeA: true, m: inputChannelsPerGroup, n: outputVolume, k: outputChannelsPerGroup,
                                   a: wp + weightOffset, lda: patch, b: groupGradOutput, ldb: outputVolume,
                                   beta: 0, c: gxp + inputOffset, ldc: inputVolume)
                    }
                    if let gwp, let xp {
                        BLAS.sgemm(transposeB: true, m: outputChannelsPerGroup, n: inputChannelsPerGroup, k: outputVolume,
                                   a: groupGradOutput, lda: outputVolume, b: xp + inputOffset, ldb: inputVolume,
                                   beta: 1, c: gwp + weightOffset, ldc: patch)
                    }
                    continue
                }
                for rows in plan.slabs {
                    let columns = rows.count * g.output[2]
                    let slabGradOutput = groupGradOutput + rows.lowerBound * g.output[2]
                    if let gwp, let xp, let panel {
                        Im2col.fill(panel: panel.data, input: xp + inputOffset, geometry: g, rows: rows)
                        BLAS.sgemm(transposeB: true, m: outputChannelsPerGroup, n: patch, k: columns,
                                   a: slabGradOutput, lda: outputVolume, b: panel.data, ldb: columns,
                                   beta: 1, c: gwp + weightOffset, ldc: patch)
                    }
                    if let gxp, let wp, let gradientPanel {
                        BLAS.sgemm(transposeA: true, m: patch, n: columns, k: outputChannelsPerGroup,
                                   a: wp + weightOffset, lda: patch, b: slabGradOutput, ldb: outputVolume,
                                   beta: 0, c: gradientPanel.data, ldc: columns)
                        Im2col.accumulate(panel: gradientPanel.data, into: gxp + inputOffset, geometry: g, rows: rows)
                    }
                }
            }
        }
        return result
    }

    /// Sets `rows` rows of `columns` values (row pitch `stride`) to the per-row value: the bias,
    /// written before a GEMM that then adds into it (beta = 1).
    static func fill(_ p: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int, with values: UnsafePointer<Float>) {
        Parallel.forEachChunk(rows, minimumChunk: max(1, 65536 / max(columns, 1))) { chunk in
            for r in chunk { (p + r * stride).update(repeating: values[r], count: columns) }
        }
    }
}
