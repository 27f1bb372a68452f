import CVolSegKernels
import Foundation

/// Stride-1 convolution by the direct AVX2 kernel (`CVolSegKernels/conv_direct_avx2.c`): each
/// output row's inputs gathered once into a panel of zero-padded rows, a 6-channel x 16-output tile
/// held in registers through every tap. The convolution's input gradient with stride 1 is itself
/// such a convolution (`ConvKernels.inputGradientByConvolution`), so it runs here too. The weight
/// gradient reads the same panels against the output gradient's rows (kW = 3, Cout a multiple of
/// 4, and its per-worker lane partials, 8 floats per weight, within the scratch budget: the
/// network's first two levels; deeper ones stay on the W-shifted GEMM).
///
/// It runs where our AVX2 kernel is the instruction set in use (`BLAS.ownISA`: a CPU without
/// AVX-512, or `VOLSEG_ISA=avx2`). On AVX-512 CPUs our AVX-512 GEMM keeps the convolutions: this
/// kernel uses 8-lane vectors and has not been measured there. Measured on the 2-core AMD EPYC
/// (Zen 3) against the W-shifted panel with OpenBLAS's own Zen kernel, same run: see
/// benchmarks/RESULTS.md. `VOLSEG_CONV=gemm` turns it off (a comparison and an escape hatch).
///
/// Every output value is one worker's sum in a fixed order, whatever the split: the forward is
/// bit-reproducible across thread counts.
enum ConvDirect {
    static func applies(_ g: ConvGeometry) -> Bool {
        // Float32 only: under bf16 the convolutions go to the GEMMs, which round their inputs.
        ConvTuning.directKernel && BLAS.ownISA == .avx2 && ComputePrecision.current == .float32
            && g.stride == [1, 1, 1] && g.kernelVolume > 1 && fitsInt32(g) && scratchBytes(g) <= ConvTuning.panelBudgetBytes
    }

    /// The panels of all workers: held to the same budget as the GEMM paths' im2col panels, so a
    /// convolution's scratch stays bounded whatever its size (a wider one goes to the GEMM path).
    static func scratchBytes(_ g: ConvGeometry) -> Int {
        guard fitsInt32(g) else { return .max }
        var s = shape(g)
        return workerCount(g) * volseg_conv_direct_scratch_count(&s) * MemoryLayout<Float>.stride
    }

    /// The C kernel takes its sizes and row indices as Int32.
    static func fitsInt32(_ g: ConvGeometry) -> Bool {
        let limit = Int(Int32.max)
        return g.outputRows < limit && g.inputVolume < limit && g.outputVolume < limit
            && g.groupInputChannels * g.kernelVolume < limit
    }

    static func appliesToWeightGradient(_ g: ConvGeometry) -> Bool {
        guard applies(g) else { return false }
        var s = shape(g)
        guard volseg_conv_direct_weight_grad_applies(&s) != 0 else { return false }
        let perWorker = volseg_conv_direct_weight_grad_scratch_count(&s) + g.groups * volseg_conv_direct_weight_grad_sums_count(&s)
        return workerCount(g) * perWorker * MemoryLayout<Float>.stride <= ConvTuning.panelBudgetBytes
    }

    static func shape(_ g: ConvGeometry) -> volseg_conv_shape {
        let i32 = { (v: Int) in Int32(v) }
        return volseg_conv_shape(cin: i32(g.groupInputChannels), d: i32(g.input[0]), h: i32(g.input[1]), w: i32(g.input[2]),
                                 cout: i32(g.groupOutputChannels), kd: i32(g.kernel[0]), kh: i32(g.kernel[1]), kw: i32(g.kernel[2]),
                                 pd: i32(g.padding[0]), ph: i32(g.padding[1]), pw: i32(g.padding[2]))
    }

    /// Workers: one per thread, each with its own rows of every (batch item, group) and its own
    /// panels; at least two rows each (the kernel pairs rows).
    static func workerCount(_ g: ConvGeometry) -> Int {
        max(1, min(Parallel.threadCount, g.outputRows / 2))
    }

    /// Calls `body` on every worker for each (batch item, group) with the worker's output rows
    /// (equal shares, in order) and the item's offsets into the input and the output-sized tensor:
    /// the split both directions use, so each output row belongs to one worker.
    static func forEachWorkerShare(_ g: ConvGeometry, workers: Int,
                                   _ body: (_ worker: Int, _ rows: (begin: Int32, end: Int32), _ group: Int,
                                            _ inputOffset: Int, _ outputOffset: Int) -> Void) {
        let rows = g.outputRows
        Parallel.forEach(workers) { worker in
            let share = (begin: Int32(rows * worker / workers), end: Int32(rows * (worker + 1) / workers))
            for item in 0..<(g.batch * g.groups) {
                let n = item / g.groups, group = item % g.groups
                body(worker, share, group, (n * g.inputChannels + group * g.groupInputChannels) * g.inputVolume,
                     (n * g.outputChannels + group * g.groupOutputChannels) * g.outputVolume)
            }
        }
    }

    static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        var s = shape(g)
        let packedPerGroup = volseg_conv_direct_packed_count(&s)
        let scratchPerWorker = volseg_conv_direct_scratch_count(&s)
        let workers = workerCount(g)
        let y = Tensor.empty(g.outputShape, planned: planned)
        let packed = Tensor.empty([g.groups * packedPerGroup], planned: planned)
        let scratch = Tensor.empty([workers * scratchPerWorker], planned: planned)
        if planned { return y }
        GEMMShapeLog.note(m: g.groupOutputChannels, n: g.outputVolume, k: g.patchSize, transposeA: false, transposeB: false,
                          kernel: .directConvolution, calls: g.batch * g.groups)

        let blocks = volseg_conv_direct_weight_blocks(&s)
        let weightPerGroup = g.groupOutputChannels * g.patchSize
        let wp = weight.data, pp = packed.data
        Parallel.forEach(g.groups * blocks) { item in
            let group = item / blocks, block = item % blocks
            var s = s
            volseg_conv_direct_pack(&s, wp + group * weightPerGroup, pp + group * packedPerGroup, block, block + 1)
        }

        let xp = x.data, yp = y.data, bp = bias?.data, sp = scratch.data
        forEachWorkerShare(g, workers: workers) { worker, rows, group, inputOffset, outputOffset in
            var s = s
            volseg_conv3d_direct_avx2(&s, xp + inputOffset, pp + group * packedPerGroup, bp.map { UnsafePointer($0 + group * g.groupOutputChannels) },
                                      yp + outputOffset, rows.begin, rows.end, sp + worker * scratchPerWorker)
        }
        return y
    }

    /// dL/dW: each worker adds its rows of every (batch item, group) into its own lane partials;
    /// they are added up per weight over workers, then lanes, in a fixed order.
    static func weightGradient(_ gy: Tensor, input x: Tensor, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        var s = shape(g)
        let scratchPerWorker = volseg_conv_direct_weight_grad_scratch_count(&s)
        let sumsPerGroup = volseg_conv_direct_weight_grad_sums_count(&s), sumsPerWorker = g.groups * sumsPerGroup
        let workers = workerCount(g)
        let gw = Tensor.empty(g.weightShape, planned: planned)
        let scratch = Tensor.empty([workers * scratchPerWorker], planned: planned)
        let sums = Tensor.zeros([workers * sumsPerWorker], planned: planned)
        if planned { return gw }
        GEMMShapeLog.note(m: g.groupOutputChannels, n: g.patchSize, k: g.outputVolume, transposeA: false, transposeB: true,
                          kernel: .directConvolution, calls: g.batch * g.groups)

        let xp = x.data, gyp = gy.data, sp = scratch.data, sums0 = sums.data
        forEachWorkerShare(g, workers: workers) { worker, rows, group, inputOffset, outputOffset in
            var s = s
            volseg_conv3d_direct_weight_grad_avx2(&s, xp + inputOffset, gyp + outputOffset, rows.begin, rows.end, sp + worker * scratchPerWorker,
                                                  sums0 + worker * sumsPerWorker + group * sumsPerGroup)
        }
        // Partials [group][co][ci kd kh][kw][lane] -> weight [co][ci][kd][kh][kw] (kw = 3).
        let out = gw.data, panelRows = g.groupInputChannels * g.kernel[0] * g.kernel[1]
        Parallel.forEach(g.outputChannels) { co in
            let group = co / g.groupOutputChannels, cog = co % g.groupOutputChannels
            for r in 0..<panelRows {
                for kw in 0..<3 {
                    var total: Float = 0
                    for worker in 0..<workers {
                        let lanes = sums0 + worker * sumsPerWorker + group * sumsPerGroup + ((cog * panelRows + r) * 3 + kw) * 8
                        for lane in 0..<8 { total += lanes[lane] }
                    }
                    out[(co * panelRows + r) * 3 + kw] = total
                }
            }
        }
        return gw
    }
}
