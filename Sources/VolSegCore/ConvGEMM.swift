import Foundation

/// Convolution as GEMM on im2col panels, for the cases the W-shifted panel does not take (stride
/// along W > 1, kW == 1) and for the col2im input gradient of strided convolutions.
///
/// Per batch item and group, `Y[Cout/g, positions] = W[Cout/g, K] x panel[K, positions]`, with
/// K = Cin/g kD kH kW. A 1x1x1 stride-1 convolution needs no panel: the input's [C, DHW] view is
/// the panel. Otherwise the panel is built one slab of output rows at a time (see
/// `ConvSlabPlan`), so scratch stays bounded whatever the volume; slabs go to `ConvWorkers`.
enum ConvGEMM {
    static func usesPanel(_ g: ConvGeometry) -> Bool { !(g.isPointwise && g.stride == [1, 1, 1]) }

    /// Slab plan and worker count, the workers' panels together within the budget.
    static func schedule(_ g: ConvGeometry) -> (plan: ConvSlabPlan, workers: Int, items: Int) {
        let whole = ConvSlabPlan(g)
        let workers = ConvWorkers.count(items: g.batch * g.groups * whole.slabs.count)
        let plan = ConvSlabPlan(g, budgetBytes: ConvTuning.panelBudgetBytes / workers)
        return (plan, workers, g.batch * g.groups * plan.slabs.count)
    }

    static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        let y = Tensor.empty(g.outputShape, planned: planned)
        let inputPerGroup = g.groupInputChannels, outputPerGroup = g.groupOutputChannels, patch = g.patchSize
        let panelled = usesPanel(g)
        let (plan, workers, items) = schedule(g)
        let panels = panelled ? Tensor.empty([workers * plan.panelCount], planned: planned) : nil
        if planned { return y }
        let xp = x.data, wp = weight.data, yp = y.data, bp = bias?.data
        guard let panels else {
            for n in 0..<g.batch {
                for group in 0..<g.groups {
                    let groupOutput = yp + (n * g.outputChannels + group * outputPerGroup) * g.outputVolume
                    if let bp {
                        fill(groupOutput, rows: outputPerGroup, columns: g.outputVolume, stride: g.outputVolume,
                             with: bp + group * outputPerGroup, parallel: true)
                    }
                    BLAS.sgemm(m: outputPerGroup, n: g.outputVolume, k: patch,
                               a: wp + group * outputPerGroup * patch, lda: patch,
                               b: xp + (n * g.inputChannels + group * inputPerGroup) * g.inputVolume, ldb: g.inputVolume,
                               beta: bp == nil ? 0 : 1, c: groupOutput, ldc: g.outputVolume)
                }
            }
            return y
        }
        let slabs = plan.slabs, outW = g.output[2], pp = panels.data
        ConvWorkers.run(items: items, workers: workers) { item, worker, parallel in
            let rows = slabs[item % slabs.count], group = (item / slabs.count) % g.groups, n = item / (slabs.count * g.groups)
            let panel = pp + worker * plan.panelCount
            let columns = rows.count * outW
            Im2col.fill(panel: panel, input: xp + (n * g.inputChannels + group * inputPerGroup) * g.inputVolume,
                        geometry: g, rows: rows, parallel: parallel)
            let slabOutput = yp + (n * g.outputChannels + group * outputPerGroup) * g.outputVolume + rows.lowerBound * outW
            if let bp {
                fill(slabOutput, rows: outputPerGroup, columns: columns, stride: g.outputVolume,
                     with: bp + group * outputPerGroup, parallel: parallel)
            }
            BLAS.sgemm(m: outputPerGroup, n: columns, k: patch, a: wp + group * outputPerGroup * patch, lda: patch,
                       b: panel, ldb: columns, beta: bp == nil ? 0 : 1, c: slabOutput, ldc: g.outputVolume)
        }
        return y
    }

    /// dL/dW = sum over slabs of gY[Cout/g, positions] x panel[K, positions]^T. Each worker sums
    /// into its own copy, added up at the end.
    static func weightGradient(_ gy: Tensor, input x: Tensor, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        let inputPerGroup = g.groupInputChannels, outputPerGroup = g.groupOutputChannels, patch = g.patchSize
        if !usesPanel(g) {
            let gw = Tensor.zeros(g.weightShape, planned: planned)
            if planned { return gw }
            for n in 0..<g.batch {
                for group in 0..<g.groups {
                    BLAS.sgemm(transposeB: true, m: outputPerGroup, n: inputPerGroup, k: g.outputVolume,
                               a: gy.data + (n * g.outputChannels + group * outputPerGroup) * g.outputVolume, lda: g.outputVolume,
                               b: x.data + (n * g.inputChannels + group * inputPerGroup) * g.inputVolume, ldb: g.inputVolume,
                               beta: 1, c: gw.data + group * outputPerGroup * patch, ldc: patch)
                }
            }
            return gw
        }
        let gw = Tensor.empty(g.weightShape, planned: planned)
        let (plan, workers, items) = schedule(g)
        let sums = Tensor.zeros([workers * gw.count], planned: planned)
        let panels = Tensor.empty([workers * plan.panelCount], planned: planned)
        if planned { return gw }
        let slabs = plan.slabs, outW = g.output[2], weightCount = Tensor.elementCount(g.weightShape)
        let xp = x.data, gyp = gy.data, pp = panels.data, sp = sums.data
        ConvWorkers.run(items: items, workers: workers) { item, worker, parallel in
            let rows = slabs[item % slabs.count], group = (item / slabs.count) % g.groups, n = item / (slabs.count * g.groups)
            let panel = pp + worker * plan.panelCount
            let columns = rows.count * outW
            Im2col.fill(panel: panel, input: xp + (n * g.inputChannels + group * inputPerGroup) * g.inputVolume,
                        geometry: g, rows: rows, parallel: parallel)
            let slabGradient = gyp + (n * g.outputChannels + group * outputPerGroup) * g.outputVolume + rows.lowerBound * outW
            BLAS.sgemm(transposeB: true, m: outputPerGroup, n: patch, k: columns,
                       a: slabGradient, lda: g.outputVolume, b: panel, ldb: columns,
                       beta: 1, c: sp + worker * weightCount + group * outputPerGroup * patch, ldc: patch)
        }
        let out = gw.data
        Parallel.forEachChunk(weightCount, minimumChunk: 4096) { range in
            for i in range {
                var total: Float = 0
                for w in 0..<workers { total += sp[w * weightCount + i] }
                out[i] = total
            }
        }
        return gw
    }

    /// dL/dx: col2im of W^T x gY, one slab after another (neighbouring slabs add into the same
    /// input rows), each spread over input channels; the GEMM keeps OpenBLAS's threads.
    static func inputGradient(_ gy: Tensor, weight w: Tensor, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        let inputPerGroup = g.groupInputChannels, outputPerGroup = g.groupOutputChannels, patch = g.patchSize
        let panelled = usesPanel(g)
        // col2im adds into the gradient, and strided kernels leave some inputs untouched.
        let gx = panelled ? Tensor.zeros(g.inputShape, planned: planned) : Tensor.empty(g.inputShape, planned: planned)
        let plan = ConvSlabPlan(g)
        let panel = panelled ? Tensor.empty([plan.panelCount], planned: planned) : nil
        if planned { return gx }
        let gyp = gy.data, wp = w.data, gxp = gx.data
        for n in 0..<g.batch {
            for group in 0..<g.groups {
                let inputOffset = (n * g.inputChannels + group * inputPerGroup) * g.inputVolume
                let groupGradient = gyp + (n * g.outputChannels + group * outputPerGroup) * g.outputVolume
                let groupWeight = wp + group * outputPerGroup * patch
                guard let panel else {
                    BLAS.sgemm(transposeA: true, m: inputPerGroup, n: g.outputVolume, k: outputPerGroup,
                               a: groupWeight, lda: patch, b: groupGradient, ldb: g.outputVolume,
                               c: gxp + inputOffset, ldc: g.inputVolume)
                    continue
                }
                for rows in plan.slabs {
                    let columns = rows.count * g.output[2]
                    BLAS.sgemm(transposeA: true, m: patch, n: columns, k: outputPerGroup,
                               a: groupWeight, lda: patch, b: groupGradient + rows.lowerBound * g.output[2], ldb: g.outputVolume,
                               c: panel.data, ldc: columns)
                    Im2col.accumulate(panel: panel.data, into: gxp + inputOffset, geometry: g, rows: rows)
                }
            }
        }
        return gx
    }

    /// Sets `rows` rows of `columns` values (row pitch `stride`) to the per-row value: the bias,
    /// written before a GEMM that then adds into it (beta = 1).
    static func fill(_ p: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int,
                     with values: UnsafePointer<Float>, parallel: Bool) {
        if !parallel {
            for r in 0..<rows { (p + r * stride).update(repeating: values[r], count: columns) }
            return
        }
        Parallel.forEachChunk(rows, minimumChunk: max(1, 65536 / max(columns, 1))) { chunk in
            for r in chunk { (p + r * stride).update(repeating: values[r], count: columns) }
        }
    }
}
