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
            if kW == 3 {
                forwardPlane3(planes: planes, output: output + od * outH * outW, weight: weight, bias: bias,
                              layout: layout, offsets: phaseOffsets)
                continue
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

    /// One output plane of a filter 3 wide (nearly all of them): the three taps unrolled and 32
    /// outputs per step in two accumulators, so each broadcast weight feeds two FMAs. Measured on
    /// one thread (64 channels, 64^3, k3, CPU time): 28 -> 19 ms.
    private static func forwardPlane3(planes: [(pointer: UnsafeMutablePointer<Float>, kd: Int)],
                                      output: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, bias: Float,
                                      layout: DepthwiseLayout, offsets: [Int]) {
        let (kH, outH, outW) = (layout.kernel[1], layout.output[1], layout.output[2])
        let sh = layout.stride[1], pitch = layout.rowPitch
        let (o0, o1, o2) = (offsets[0], offsets[1], offsets[2])
        for oh in 0..<outH {
            let outRow = output + oh * outW
            var ow = 0
            while ow < outW {
                var acc0 = Vector(repeating: bias), acc1 = Vector(repeating: bias)
                for (plane, kd) in planes {
                    for kh in 0..<kH {
                        let row = plane + (oh * sh + kh) * pitch + ow
                        let w = weight + (kd * kH + kh) * 3
                        let (w0, w1, w2) = (w[0], w[1], w[2])
                        acc0.addProduct(w0, load(row + o0)); acc1.addProduct(w0, load(row + o0 + lanes))
                        acc0.addProduct(w1, load(row + o1)); acc1.addProduct(w1, load(row + o1 + lanes))
                        acc0.addProduct(w2, load(row + o2)); acc1.addProduct(w2, load(row + o2 + lanes))
                    }
                }
                let remaining = outW - ow
                store(acc0, to: outRow + ow, count: min(lanes, remaining))
                if remaining > lanes { store(acc1, to: outRow + ow + lanes, count: min(lanes, remaining - lanes)) }
                ow += 2 * lanes
            }
        }
    }

    /// Gradients of input, weight and bias (each only when needed). One task per channel, which
    /// loops over the batch, so a channel's weight gradient has a single writer.
    static func backward(_ gy: Tensor, input x: Tensor?, weight w: Tensor?, geometry g: ConvGeometry,
                         needs: ConvGradients) -> ConvGradientTensors {
        let planned = gy.isPlanned || (x?.isPlanned ?? false) || (w?.isPlanned ?? false)
        var result = ConvGradientTensors()
        var needs = needs
        if needs.input, let w, ConvKernels.gathersInputGradient(g) {
            result.input = inputGradientByConvolution(gy, weight: w, geometry: g, planned: planned)
            needs.input = false
        }
        // Inputs that no output reaches (stride > kernel) keep a zero gradient.
        if needs.input { result.input = Tensor.zeros(g.inputShape, planned: planned) }
        if needs.weight { result.weight = Tensor.empty(g.weightShape, planned: planned) }
        if needs.bias { result.bias = channelSums(gy, channels: g.outputChannels) }
        guard needs.input || needs.weight else { return result }
        let layout = DepthwiseLayout(g)
        let channels = g.outputChannels
        let workers = max(1, min(Parallel.threadCount, channels))
        let taps = g.kernelVolume
        // Per worker: input ring, gradient ring (if needed), one zero-tailed row of gy, per-tap partial sums.
        let rings = needs.input ? 2 : 1
        let perWorker = rings * layout.ringCount + layout.paddedOutputWidth + taps * lanes
        let scratch = Tensor.zeros([workers * perWorker], planned: planned)
        if planned || channels == 0 { return result }

        let gyp = gy.data, sp = scratch.data
        let xp = needs.weight ? x!.data : nil, wp = needs.input ? w!.data : nil
        let gxp = needs.input ? result.input?.data : nil, gwp = result.weight?.data
        Parallel.forEach(workers) { worker in
            let base = sp + worker * perWorker
            let ringSize = layout.ringCount
            let inputRing = DepthwiseRing(layout: layout, base: base)
            let gradientRing = DepthwiseRing(layout: layout, base: base + ringSize)
            let gradRow = base + rings * ringSize
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

    /// With stride 1 the input gradient is the depthwise convolution of gy with the spatially
    /// flipped filters, padded by k - 1 - pad: the forward kernel gathers it, instead of the
    /// scatter below reading and writing every gradient value once per tap (measured: the input
    /// gradient of the benchmark's 64-channel 64^3 case fell from ~26 to ~14 ms).
    static func inputGradientByConvolution(_ gy: Tensor, weight: Tensor, geometry g: ConvGeometry, planned: Bool) -> Tensor {
        let flipped = Tensor.empty(weight.shape, planned: planned)
        if !planned {
            let taps = g.kernelVolume, src = weight.data, dst = flipped.data
            for c in 0..<g.outputChannels {
                for t in 0..<taps { dst[c * taps + taps - 1 - t] = src[c * taps + t] }
            }
        }
        let padding = (0..<3).map { g.kernel[$0] - 1 - g.padding[$0] }
        let transposed = ConvGeometry(input: gy.shape, weight: flipped.shape, stride: [1], padding: padding, groups: g.groups)
        precondition(transposed.output == g.input, "depthwise conv3d backward: sizes \(transposed.output) vs \(g.input)")
        return forward(gy, weight: flipped, bias: nil, geometry: transposed, planned: planned)
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
        // 3x3 in-plane filters (nearly all of them) get a register-blocked weight gradient.
        let blocked = kH == 3 && kW == 3
        let weightInput = blocked ? nil : input
        for od in 0..<outD {
            var inputPlanes: [UnsafeMutablePointer<Float>?] = Array(repeating: nil, count: kD)
            var gradientPlanes: [UnsafeMutablePointer<Float>?] = Array(repeating: nil, count: kD)
            for kd in 0..<kD {
                if let input { inputPlanes[kd] = inputRing.inputPlane(od: od, kd: kd, input: input) }
                if let gradInput { gradientPlanes[kd] = gradientRing.gradientPlane(od: od, kd: kd, gradInput: gradInput) }
            }
            if blocked, input != nil {
                for kd in 0..<kD {
                    guard let plane = inputPlanes[kd] else { continue }
                    weightGradient3x3(gradOutput: gradOutput + od * outH * outW, input: plane, layout: layout,
                                      offsets: phaseOffsets, into: &weightGradient, firstTap: kd * 9)
                }
            }
            if weightInput == nil && gradInput == nil { continue }
            if weightInput != nil { tapSums.update(repeating: 0, count: taps * lanes) }
            for oh in 0..<outH {
                // A copy of the gy row whose tail past outW stays zero, so full-width vectors add nothing there.
                gradRow.update(from: gradOutput + (od * outH + oh) * outW, count: outW)
                for kd in 0..<kD {
                    let inputPlane = weightInput == nil ? nil : inputPlanes[kd], gradientPlane = gradientPlanes[kd]
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
            if weightInput != nil {
                for t in 0..<taps { weightGradient[t] += Double(load(tapSums + t * lanes).sum()) }
            }
        }
        if let gradInput { gradientRing.flushAll(gradInput: gradInput) }
    }

    /// The 9 in-plane taps' weight gradient from one output plane and one padded input plane:
    /// nine 8-wide accumulators stay in registers over the whole plane, so each gy vector is
    /// loaded once for nine FMAs (the generic loop loads it once per tap and sums through memory).
    private static func weightGradient3x3(gradOutput: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                          layout: DepthwiseLayout, offsets: [Int],
                                          into weightGradient: inout [Double], firstTap: Int) {
        typealias Lane8 = SIMD8<Float>
        @inline(__always) func load8(_ p: UnsafePointer<Float>) -> Lane8 { UnsafeRawPointer(p).loadUnaligned(as: Lane8.self) }
        let (outH, outW) = (layout.output[1], layout.output[2])
        let pitch = layout.rowPitch, sh = layout.stride[1]
        let (o0, o1, o2) = (offsets[0], offsets[1], offsets[2])
        var a0 = Lane8(), a1 = Lane8(), a2 = Lane8(), a3 = Lane8(), a4 = Lane8()
        var a5 = Lane8(), a6 = Lane8(), a7 = Lane8(), a8 = Lane8()
        var tail = [Float](repeating: 0, count: 9)
        let fullWidth = outW / 8 * 8
        for oh in 0..<outH {
            let g = gradOutput + oh * outW
            let r0 = input + oh * sh * pitch, r1 = r0 + pitch, r2 = r1 + pitch
            var ow = 0
            while ow < fullWidth {
                let gv = load8(g + ow)
                a0.addProduct(gv, load8(r0 + o0 + ow)); a1.addProduct(gv, load8(r0 + o1 + ow)); a2.addProduct(gv, load8(r0 + o2 + ow))
                a3.addProduct(gv, load8(r1 + o0 + ow)); a4.addProduct(gv, load8(r1 + o1 + ow)); a5.addProduct(gv, load8(r1 + o2 + ow))
                a6.addProduct(gv, load8(r2 + o0 + ow)); a7.addProduct(gv, load8(r2 + o1 + ow)); a8.addProduct(gv, load8(r2 + o2 + ow))
                ow += 8
            }
            while ow < outW {
                let gs = g[ow]
                for (t, row) in [r0, r1, r2].enumerated() {
                    tail[t * 3] += gs * row[o0 + ow]; tail[t * 3 + 1] += gs * row[o1 + ow]; tail[t * 3 + 2] += gs * row[o2 + ow]
                }
                ow += 1
            }
        }
        for (t, a) in [a0, a1, a2, a3, a4, a5, a6, a7, a8].enumerated() {
            weightGradient[firstTap + t] += Double(a.sum()) + Double(tail[t])
        }
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
