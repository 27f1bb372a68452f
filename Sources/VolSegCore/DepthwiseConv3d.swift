import Foundation

/// Depthwise 3D convolution (groups == Cin == Cout): each channel is convolved with its own
/// kD x kH x kW filter. MBConv networks spend most of their time here, and a GEMM would have an
/// inner dimension of only kD*kH*kW, so this is a direct kernel vectorised over W.
///
/// Each worker copies the input planes a channel needs into a small ring of zero-padded planes
/// (kD planes, the window one output plane reads), so the inner loop has no bounds checks. Rows
/// of a padded plane are stored split by W-stride phase (columns x with the same x % sW side by
/// side), so that for every kernel tap the inputs of consecutive outputs are consecutive in
/// memory, for stride 2 as for stride 1. Backward scatters into a ring of padded gradient planes
/// with the same layout and writes each plane out once no later output can reach it.
enum DepthwiseConv3d {
    typealias Vector = SIMD16<Float>
    static let lanes = 16

    static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        let y = Tensor.empty(g.outputShape, planned: planned)
        let layout = DepthwiseLayout(g)
        let tasks = g.batch * g.outputChannels
        let workers = max(1, min(Parallel.threadCount, tasks))
        let perWorker = layout.ringCount
        let scratch = Tensor.zeros([workers * perWorker], planned: planned)
        if planned || tasks == 0 { return y }

        let xp = x.data, wp = weight.data, yp = y.data, bp = bias?.data, sp = scratch.data
        let taps = g.kernelVolume, channels = g.outputChannels
        Parallel.forEach(workers) { worker in
            let ring = sp + worker * perWorker
            var task = worker
            while task < tasks {
                let c = task % channels
                let ringPlanes = DepthwiseRing(layout: layout, base: ring)
                forwardChannel(input: xp + task * g.inputVolume, output: yp + task * g.outputVolume,
                               weight: wp + c * taps, bias: bp.map { $0[c] } ?? 0, layout: layout, ring: ringPlanes)
                task += workers
            }
        }
        return y
    }

    private static func forwardChannel(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                       weight: UnsafePointer<Float>, bias: Float, layout: DepthwiseLayout,
                                       ring: DepthwiseRing) {
        var ring = ring
        let (kD, kH, kW) = (layout.kernel[0], layout.kernel[1], layout.kernel[2])
        let (outD, outH, outW) = (layout.output[0], layout.output[1], layout.output[2])
        let sh = layout.stride[1]
        let phaseOffsets = (0..<kW).map { layout.columnOffset($0) }
        for od in 0..<outD {
            // The input planes of this output plane, loaded into the ring (each plane once).
            var planes: [(pointer: UnsafeMutablePointer<Float>, kd: Int)] = []
            for kd in 0..<kD {
                if let plane = ring.inputPlane(od: od, kd: kd, input: input) { planes.append((plane, kd)) }
            }
            for oh in 0..<outH {
                let outRow = output + (od * outH + oh) * outW
                var ow = 0
                while ow < outW {
                    var acc = Vector(repeating: bias)
                    for (plane, kd) in planes {
                        for kh in 0..<kH {
                            let row = plane + (oh * sh + kh) * layout.rowPitch + ow
                            let w = weight + (kd * kH + kh) * kW
                            for kw in 0..<kW {
                                acc.addProduct(w[kw], load(row + phaseOffsets[kw]))
                            }
                        }
                    }
                    store(acc, to: outRow + ow, count: min(lanes, outW - ow))
                    ow += lanes
                }
            }
        }
    }

    /// Gradients of input, weight and bias (each only when needed). One task per channel, which
    /// loops over the batch, so a channel's weight gradient has a single writer.
    static func backward(_ gy: Tensor, input x: Tensor?, weight w: Tensor?, geometry g: ConvGeometry,
                         needs: ConvGradients) -> ConvGradientTensors {
        let planned = gy.isPlanned || (x?.isPlanned ?? false) || (w?.isPlanned ?? false)
        var result = ConvGradientTensors()
        // Inputs that no output reaches (stride > kernel) keep a zero gradient.
        if needs.input { result.input = Tensor.zeros(g.inputShape, planned: planned) }
        if needs.weight { result.weight = Tensor.empty(g.weightShape, planned: planned) }
        if needs.bias { result.bias = channelSums(gy, channels: g.outputChannels) }
        guard needs.input || needs.weight else { return result }
        let layout = DepthwiseLayout(g)
        let channels = g.outputChannels
        let workers = max(1, min(Parallel.threadCount, channels))
        let taps = g.kernelVolume
        // Per worker: input ring, gradient ring, one zero-tailed row of gy, per-tap partial sums.
        let perWorker = 2 * layout.ringCount + layout.paddedOutputWidth + taps * lanes
        let scratch = Tensor.zeros([workers * perWorker], planned: planned)
        if planned || channels == 0 { return result }

        let gyp = gy.data, sp = scratch.data
        let xp = needs.weight ? x!.data : nil, wp = needs.input ? w!.data : nil
        let gxp = result.input?.data, gwp = result.weight?.data
        Parallel.forEach(workers) { worker in
            let base = sp + worker * perWorker
            let ringSize = layout.ringCount
            let inputRing = DepthwiseRing(layout: layout, base: base)
            let gradientRing = DepthwiseRing(layout: layout, base: base + ringSize)
            let gradRow = base + 2 * ringSize
            let tapSums = gradRow + layout.paddedOutputWidth
            var c = worker
            while c < channels {
                var weightGradient = [Double](repeating: 0, count: taps)
                for n in 0..<g.batch {
                    let plane = n * channels + c
                    backwardChannel(gradOutput: gyp + plane * g.outputVolume,
                                    input: xp.map { $0 + plane * g.inputVolume },
                                    weight: wp.map { $0 + c * taps },
                                    gradInput: gxp.map { $0 + plane * g.inputVolume },
                                    weightGradient: &weightGradient, layout: layout,
                                    inputRing: inputRing, gradientRing: gradientRing,
                                    gradRow: gradRow, tapSums: tapSums)
                }
                if let gwp { for t in 0..<taps { gwp[c * taps + t] = Float(weightGradient[t]) } }
                c += workers
            }
        }
        return result
    }

    private static func backwardChannel(gradOutput: UnsafePointer<Float>, input: UnsafePointer<Float>?,
                                        weight: UnsafePointer<Float>?, gradInput: UnsafeMutablePointer<Float>?,
                                        weightGradient: inout [Double], layout: DepthwiseLayout,
                                        inputRing: DepthwiseRing, gradientRing: DepthwiseRing,
                                        gradRow: UnsafeMutablePointer<Float>, tapSums: UnsafeMutablePointer<Float>) {
        var inputRing = inputRing, gradientRing = gradientRing
        let (kD, kH, kW) = (layout.kernel[0], layout.kernel[1], layout.kernel[2])
        let (outD, outH, outW) = (layout.output[0], layout.output[1], layout.output[2])
        let sh = layout.stride[1], taps = kD * kH * kW
        let phaseOffsets = (0..<kW).map { layout.columnOffset($0) }
        for od in 0..<outD {
            var inputPlanes: [UnsafeMutablePointer<Float>?] = Array(repeating: nil, count: kD)
            var gradientPlanes: [UnsafeMutablePointer<Float>?] = Array(repeating: nil, count: kD)
            for kd in 0..<kD {
                if let input { inputPlanes[kd] = inputRing.inputPlane(od: od, kd: kd, input: input) }
                if let gradInput { gradientPlanes[kd] = gradientRing.gradientPlane(od: od, kd: kd, gradInput: gradInput) }
            }
            if input != nil { tapSums.update(repeating: 0, count: taps * lanes) }
            for oh in 0..<outH {
                // A copy of the gy row whose tail past outW stays zero, so full-width vectors add nothing there.
                gradRow.update(from: gradOutput + (od * outH + oh) * outW, count: outW)
                for kd in 0..<kD {
                    let inputPlane = inputPlanes[kd], gradientPlane = gradientPlanes[kd]
                    if inputPlane == nil && gradientPlane == nil { continue }
                    for kh in 0..<kH {
                        let rowOffset = (oh * sh + kh) * layout.rowPitch
                        for kw in 0..<kW {
                            let tap = (kd * kH + kh) * kW + kw
                            let offset = rowOffset + phaseOffsets[kw]
                            if let inputPlane {
                                var sum = Vector()
                                var ow = 0
                                while ow < outW {
                                    sum.addProduct(load(gradRow + ow), load(inputPlane + offset + ow))
                                    ow += lanes
                                }
                                store(load(tapSums + tap * lanes) + sum, to: tapSums + tap * lanes, count: lanes)
                            }
                            if let gradientPlane, let weight {
                                let w = weight[tap]
                                var ow = 0
                                while ow < outW {
                                    let target = gradientPlane + offset + ow
                                    var value = load(target)
                                    value.addProduct(w, load(gradRow + ow))
                                    store(value, to: target, count: lanes)
                                    ow += lanes
                                }
                            }
                        }
                    }
                }
            }
            if input != nil {
                for t in 0..<taps { weightGradient[t] += Double(load(tapSums + t * lanes).sum()) }
            }
        }
        if let gradInput { gradientRing.flushAll(gradInput: gradInput) }
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ v: Vector, to p: UnsafeMutablePointer<Float>, count: Int) {
        if count == lanes {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
        } else {
            for i in 0..<count { p[i] = v[i] }
        }
    }
}
