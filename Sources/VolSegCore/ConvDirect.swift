import CVolSegKernels
import Foundation

/// Convolution by a direct kernel: each output row's inputs gathered once into a panel of
/// zero-padded rows, a tile of output channels x output vectors held in registers through every tap.
/// The convolution's input gradient with stride 1 is itself such a convolution
/// (`ConvKernels.inputGradientByConvolution`), so it runs here too.
///
/// Three variants (`Variant`), one per instruction set in use:
/// - AVX2 (`CVolSegKernels/conv_direct_avx2.c`), where our AVX2 kernel is the instruction set in
///   use (`BLAS.ownISA`: a CPU without AVX-512, or `VOLSEG_ISA=avx2`): 6 channels x 16 outputs.
///   Its weight gradient reads the same panels against the output gradient's rows (kW = 3, Cout a
///   multiple of 4, and its per-worker lane partials, 8 floats per weight, within the scratch
///   budget: the network's first two levels; deeper ones stay on the W-shifted GEMM).
/// - AVX-512 Float32 (`conv_direct_avx512.c`) where our AVX-512 kernel is in use, and the same
///   kernel in bf16 (pair words, VDPBF16PS) under `ComputePrecision.bf16`: stride 1, or 2 along W
///   (the networks' down-sampling convolutions) and any along D and H, outputs at least 16 wide
///   with tiles at least 80% useful (`volseg_conv_direct512_applies`); narrower ones and the weight
///   gradient stay on the GEMMs.
/// Measured against the GEMM paths, same runs: see benchmarks/RESULTS.md. `VOLSEG_CONV=gemm` turns
/// all of them off (a comparison and an escape hatch).
///
/// Every output value is one worker's sum in a fixed order, whatever the split: the forward is
/// bit-reproducible across thread counts.
enum ConvDirect {
    enum Variant {
        case avx2, avx512, avx512BF16

        var bf16: Int32 { self == .avx512BF16 ? 1 : 0 }
        /// How `GEMMShapeLog` names it.
        var logged: GEMMKernel {
            switch self {
            case .avx2: .directConvolution
            case .avx512: .directConvolutionAVX512
            case .avx512BF16: .directConvolutionBF16
            }
        }
    }

    /// The direct kernel that runs this convolution's forward now, or nil (a GEMM path runs it).
    static func variant(_ g: ConvGeometry) -> Variant? {
        guard ConvTuning.directKernel, g.kernelVolume > 1, fitsInt32(g) else { return nil }
        var s = shape(g)
        let chosen: Variant
        switch (ComputePrecision.current, BLAS.ownISA) {
        // Under bf16 the GEMMs round their inputs; the AVX2 kernel cannot. A convolution with
        // fewer than 8 input channels per group (a network's first, on the image itself) keeps
        // Float32: its pair words would be partly empty (half at 1 channel, no faster than
        // Float32), it is a few percent of the FLOPs, and its input is where rounding costs the
        // most (the bundled liver model on liver117: 179 voxels whose label differs from Float32
        // with it in bf16, 154 without).
        case (.bf16, _) where g.groupInputChannels >= ConvDirect.bf16MinimumInputChannels: chosen = .avx512BF16
        case (.bf16, _): chosen = .avx512
        case (.float32, .avx2) where g.stride == [1, 1, 1]: chosen = .avx2
        case (.float32, .avx512): chosen = .avx512
        default: return nil
        }
        if chosen != .avx2 && volseg_conv_direct512_applies(&s, chosen.bf16) == 0 { return nil }
        return scratchBytes(g, chosen) <= ConvTuning.panelBudgetBytes ? chosen : nil
    }

    static func applies(_ g: ConvGeometry) -> Bool { variant(g) != nil }

    /// Under bf16, the direct kernel rounds convolutions with at least this many input channels
    /// per group; narrower ones run it in Float32 (see `variant`).
    static let bf16MinimumInputChannels = 8

    /// The panels of all workers: held to the same budget as the GEMM paths' im2col panels, so a
    /// convolution's scratch stays bounded whatever its size (a wider one goes to the GEMM path).
    static func scratchBytes(_ g: ConvGeometry, _ variant: Variant) -> Int {
        guard fitsInt32(g) else { return .max }
        return workerCount(g) * scratchCount(g, variant) * MemoryLayout<Float>.stride
    }

    /// 4-byte words of one worker's panel.
    static func scratchCount(_ g: ConvGeometry, _ variant: Variant) -> Int {
        var s = shape(g)
        return variant == .avx2 ? volseg_conv_direct_scratch_count(&s) : volseg_conv_direct512_scratch_count(&s, variant.bf16)
    }

    /// The C kernel takes its sizes and row indices as Int32.
    static func fitsInt32(_ g: ConvGeometry) -> Bool {
        let limit = Int(Int32.max)
        return g.outputRows < limit && g.inputVolume < limit && g.outputVolume < limit
            && g.groupInputChannels * g.kernelVolume < limit
    }

    static func appliesToWeightGradient(_ g: ConvGeometry) -> Bool {
        guard variant(g) == .avx2 else { return false }
        var s = shape(g)
        guard volseg_conv_direct_weight_grad_applies(&s) != 0 else { return false }
        let perWorker = volseg_conv_direct_weight_grad_scratch_count(&s) + g.groups * volseg_conv_direct_weight_grad_sums_count(&s)
        return workerCount(g) * perWorker * MemoryLayout<Float>.stride <= ConvTuning.panelBudgetBytes
    }

    static func shape(_ g: ConvGeometry) -> volseg_conv_shape {
        let i32 = { (v: Int) in Int32(v) }
        return volseg_conv_shape(cin: i32(g.groupInputChannels), d: i32(g.input[0]), h: i32(g.input[1]), w: i32(g.input[2]),
                                 cout: i32(g.groupOutputChannels), kd: i32(g.kernel[0]), kh: i32(g.kernel[1]), kw: i32(g.kernel[2]),
                                 pd: i32(g.padding[0]), ph: i32(g.padding[1]), pw: i32(g.padding[2]),
                                 sd: i32(g.stride[0]), sh: i32(g.stride[1]), sw: i32(g.stride[2]))
    }

    /// Workers: one per thread, each with its own rows of every (batch item, group) and its own
    /// panels; at least two rows each (the kernel pairs rows).
    static func workerCount(_ g: ConvGeometry) -> Int {
        max(1, min(Parallel.threadCount, g.outputRows / 2))
    }

    /// Calls `body` on every worker for each (batch item, group) with the worker's output rows
    /// (equal shares, in order), the item's input channels (pointers into `parts`, the input's
    /// channels split over tensors as `Tensor.concat(parts, axis: 1)` would join them) and its
    /// offset into the output-sized tensor: the split both directions use, so each output row
    /// belongs to one worker.
    static func forEachWorkerShare(_ g: ConvGeometry, parts: [Tensor], workers: Int,
                                   _ body: (_ worker: Int, _ rows: (begin: Int32, end: Int32), _ group: Int,
                                            _ channels: UnsafePointer<UnsafePointer<Float>?>, _ outputOffset: Int) -> Void) {
        let table = channelTable(parts, geometry: g)
        let rows = g.outputRows
        table.withUnsafeBufferPointer { channels in
            let base = channels.baseAddress!
            Parallel.forEach(workers) { worker in
                let share = (begin: Int32(rows * worker / workers), end: Int32(rows * (worker + 1) / workers))
                for item in 0..<(g.batch * g.groups) {
                    let n = item / g.groups, group = item % g.groups
                    body(worker, share, group, base + n * g.inputChannels + group * g.groupInputChannels,
                         (n * g.outputChannels + group * g.groupOutputChannels) * g.outputVolume)
                }
            }
        }
    }

    /// [batch item][channel] -> the start of that channel's volume in the part that holds it.
    static func channelTable(_ parts: [Tensor], geometry g: ConvGeometry) -> [UnsafePointer<Float>?] {
        precondition(parts.reduce(0) { $0 + $1.shape[1] } == g.inputChannels, "conv3d: parts do not add up to the input channels")
        var table: [UnsafePointer<Float>?] = []
        table.reserveCapacity(g.batch * g.inputChannels)
        for n in 0..<g.batch {
            for part in parts {
                let channels = part.shape[1], data = UnsafePointer(part.data)
                for c in 0..<channels { table.append(data + (n * channels + c) * g.inputVolume) }
            }
        }
        return table
    }

    /// The convolution of the channel concatenation of `parts` (one tensor, or several a decoder
    /// would otherwise concatenate first).
    static func forward(_ parts: [Tensor], weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        guard let variant = variant(g) else { preconditionFailure("ConvDirect.forward on a convolution it does not take") }
        var s = shape(g)
        let bf16 = variant.bf16
        let packedPerGroup = variant == .avx2 ? volseg_conv_direct_packed_count(&s) : volseg_conv_direct512_packed_count(&s, bf16)
        let scratchPerWorker = scratchCount(g, variant)
        let workers = workerCount(g)
        let y = Tensor.empty(g.outputShape, planned: planned)
        let packed = Tensor.empty([g.groups * packedPerGroup], planned: planned)
        let scratch = Tensor.empty([workers * scratchPerWorker], planned: planned)
        if planned { return y }
        GEMMShapeLog.note(m: g.groupOutputChannels, n: g.outputVolume, k: g.patchSize, transposeA: false, transposeB: false,
                          kernel: variant.logged, calls: g.batch * g.groups)

        let blocks = variant == .avx2 ? volseg_conv_direct_weight_blocks(&s) : volseg_conv_direct512_weight_blocks(&s, bf16)
        let weightPerGroup = g.groupOutputChannels * g.patchSize
        let wp = weight.data, pp = packed.data
        Parallel.forEach(g.groups * blocks) { item in
            let group = item / blocks, block = item % blocks
            var s = s
            if variant == .avx2 {
                volseg_conv_direct_pack(&s, wp + group * weightPerGroup, pp + group * packedPerGroup, block, block + 1)
            } else {
                volseg_conv_direct512_pack(&s, bf16, wp + group * weightPerGroup, pp + group * packedPerGroup, block, block + 1)
            }
        }

        let yp = y.data, bp = bias?.data, sp = scratch.data
        forEachWorkerShare(g, parts: parts, workers: workers) { worker, rows, group, channels, outputOffset in
            var s = s
            let groupBias = bp.map { UnsafePointer($0 + group * g.groupOutputChannels) }
            if variant == .avx2 {
                volseg_conv3d_direct_avx2(&s, channels, pp + group * packedPerGroup, groupBias,
                                          yp + outputOffset, rows.begin, rows.end, sp + worker * scratchPerWorker)
            } else {
                volseg_conv3d_direct_avx512(&s, bf16, channels, pp + group * packedPerGroup, groupBias,
                                            yp + outputOffset, rows.begin, rows.end, sp + worker * scratchPerWorker)
            }
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

        let gyp = gy.data, sp = scratch.data, sums0 = sums.data
        forEachWorkerShare(g, parts: [x], workers: workers) { worker, rows, group, channels, outputOffset in
            var s = s
            volseg_conv3d_direct_weight_grad_avx2(&s, channels, gyp + outputOffset, rows.begin, rows.end, sp + worker * scratchPerWorker,
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
