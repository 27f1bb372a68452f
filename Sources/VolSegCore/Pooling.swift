import Foundation

// Max and average pooling over the spatial axes of [N, C, D, H, W] (or [N, C, H, W]), without
// padding and with floor rounding of the output size (PyTorch's defaults), and global average
// pooling. Work is split over (plane, output slice); max pooling's backward finds each window's
// maximum again from the saved input instead of keeping an index tensor as large as the output.

/// The sizes of one pooling: planes, input and output extents, window and step, per axis (D, H, W;
/// D = 1 for 2D input).
struct PoolGeometry {
    let planes: Int
    let input: [Int]
    let output: [Int]
    let kernel: [Int]
    let stride: [Int]

    init(shape: [Int], kernel: [Int], stride: [Int], name: String) {
        precondition(shape.count == 4 || shape.count == 5, "\(name): needs [N, C, (D,) H, W], got \(shape)")
        let spatialRank = shape.count - 2
        precondition(kernel.count == spatialRank && stride.count == spatialRank,
                     "\(name): kernel \(kernel) and stride \(stride) need \(spatialRank) values for \(shape)")
        precondition(kernel.allSatisfy { $0 > 0 } && stride.allSatisfy { $0 > 0 },
                     "\(name): kernel \(kernel) and stride \(stride) must be positive")
        planes = shape[0] * shape[1]
        let pad = [Int](repeating: 1, count: 3 - spatialRank)
        let input = pad + Array(shape[2...]), fullKernel = pad + kernel, fullStride = pad + stride
        for axis in 0..<3 {
            precondition(input[axis] >= fullKernel[axis], "\(name): window \(kernel) is larger than the input \(shape)")
        }
        self.input = input
        self.kernel = fullKernel
        self.stride = fullStride
        output = (0..<3).map { (input[$0] - fullKernel[$0]) / fullStride[$0] + 1 }
    }

    var inputPlane: Int { input[0] * input[1] * input[2] }
    var outputPlane: Int { output[0] * output[1] * output[2] }

    /// Backward may split a plane by output slice only when windows of neighbouring slices do
    /// not overlap in depth; otherwise two tasks would add into the same input voxels.
    var slicesAreDisjoint: Bool { kernel[0] <= stride[0] }

    /// Calls `body(plane, outputDepth)` for every output slice, in parallel.
    func forEachSlice(_ body: (Int, Int) -> Void) {
        Parallel.forEach(planes * output[0]) { task in body(task / output[0], task % output[0]) }
    }

    /// Like `forEachSlice`, but one task per plane when slices overlap (for backward's scatter).
    func forEachSliceSafely(_ body: (Int, Int) -> Void) {
        if slicesAreDisjoint { forEachSlice(body); return }
        Parallel.forEach(planes) { plane in for od in 0..<output[0] { body(plane, od) } }
    }

    /// Input offset (within a plane) of the first voxel of output (od, oh, ow)'s window.
    @inline(__always)
    func windowStart(_ od: Int, _ oh: Int, _ ow: Int) -> Int {
        ((od * stride[0]) * input[1] + oh * stride[1]) * input[2] + ow * stride[2]
    }

    var pairsAlongWidth: Bool { kernel[2] == 2 && stride[2] == 2 }

    /// Maxima of the first multiple-of-8 outputs of row (od, oh) for windows two wide with step
    /// two: the window's rows are combined lane by lane, then neighbouring lanes pairwise. Returns
    /// how many outputs it wrote. (The maximum's value only; backward finds its position.)
    @inline(__always)
    func maxOfPairs(_ x: UnsafePointer<Float>, _ od: Int, _ oh: Int, into y: UnsafeMutablePointer<Float>) -> Int {
        let blocks = output[2] / 8
        for block in 0..<blocks {
            let start = windowStart(od, oh, block * 8)
            var m = VectorMemory.load(x + start)
            for kd in 0..<kernel[0] {
                for kh in 0..<kernel[1] where kd + kh > 0 {
                    m = lanesMax(m, VectorMemory.load(x + start + (kd * input[1] + kh) * input[2]))
                }
            }
            let even = m.evenHalf, odd = m.oddHalf
            UnsafeMutableRawPointer(y + block * 8).storeBytes(of: even.replacing(with: odd, where: even .< odd),
                                                              as: SIMD8<Float>.self)
        }
        return blocks * 8
    }

    /// Offset of the largest element of a window (the first one on ties, NaN wins, as PyTorch).
    @inline(__always)
    func argmax(_ x: UnsafePointer<Float>, windowStart start: Int) -> Int {
        var best = start
        var bestValue = x[start]
        for kd in 0..<kernel[0] {
            for kh in 0..<kernel[1] {
                let row = start + (kd * input[1] + kh) * input[2]
                for kw in 0..<kernel[2] {
                    let v = x[row + kw]
                    if v > bestValue || v.isNaN { bestValue = v; best = row + kw }
                }
            }
        }
        return best
    }
}

extension Tensor {
    /// Max pooling with window `kernel` and step `stride` (default: the kernel) per spatial axis.
    public func maxPool(kernel: [Int], stride: [Int]? = nil) -> Tensor {
        let geometry = PoolGeometry(shape: shape, kernel: kernel, stride: stride ?? kernel, name: "maxPool")
        var outShape = shape
        for axis in 2..<rank { outShape[axis] = geometry.output[axis - rank + 3] }
        let out = Tensor.empty(outShape, planned: isPlanned)
        if !isPlanned {
            let x = UnsafePointer(data), y = out.data
            geometry.forEachSlice { plane, od in
                let src = x + plane * geometry.inputPlane
                var dst = y + plane * geometry.outputPlane + od * geometry.output[1] * geometry.output[2]
                for oh in 0..<geometry.output[1] {
                    // Windows two wide with step two (every U-Net pooling) run eight outputs at a time.
                    let vectorised = geometry.pairsAlongWidth ? geometry.maxOfPairs(src, od, oh, into: dst) : 0
                    for ow in vectorised..<geometry.output[2] {
                        dst[ow] = src[geometry.argmax(src, windowStart: geometry.windowStart(od, oh, ow))]
                    }
                    dst += geometry.output[2]
                }
            }
        }
        let saved = detached(), inputShape = shape
        return Tensor.record("max_pool", output: out, inputs: [self]) { g in
            let gx = Tensor.zeros(inputShape, planned: g.isPlanned || saved.isPlanned)
            if gx.isPlanned { return [gx] }
            let x = UnsafePointer(saved.data), gy = UnsafePointer(g.data), gxp = gx.data
            geometry.forEachSliceSafely { plane, od in
                let src = x + plane * geometry.inputPlane, dst = gxp + plane * geometry.inputPlane
                var grad = gy + plane * geometry.outputPlane + od * geometry.output[1] * geometry.output[2]
                for oh in 0..<geometry.output[1] {
                    for ow in 0..<geometry.output[2] {
                        dst[geometry.argmax(src, windowStart: geometry.windowStart(od, oh, ow))] += grad[ow]
                    }
                    grad += geometry.output[2]
                }
            }
            return [gx]
        }
    }

    /// Average pooling with window `kernel` and step `stride` (default: the kernel).
    public func avgPool(kernel: [Int], stride: [Int]? = nil) -> Tensor {
        let geometry = PoolGeometry(shape: shape, kernel: kernel, stride: stride ?? kernel, name: "avgPool")
        var outShape = shape
        for axis in 2..<rank { outShape[axis] = geometry.output[axis - rank + 3] }
        let out = Tensor.empty(outShape, planned: isPlanned)
        let k = geometry.kernel, inner = geometry.input
        let scale = 1 / Float(k[0] * k[1] * k[2])
        if !isPlanned {
            let x = UnsafePointer(data), y = out.data
            geometry.forEachSlice { plane, od in
                let src = x + plane * geometry.inputPlane
                var dst = y + plane * geometry.outputPlane + od * geometry.output[1] * geometry.output[2]
                for oh in 0..<geometry.output[1] {
                    for ow in 0..<geometry.output[2] {
                        let start = geometry.windowStart(od, oh, ow)
                        var s: Float = 0
                        for kd in 0..<k[0] {
                            for kh in 0..<k[1] {
                                let row = src + start + (kd * inner[1] + kh) * inner[2]
                                for kw in 0..<k[2] { s += row[kw] }
                            }
                        }
                        dst[ow] = s * scale
                    }
                    dst += geometry.output[2]
                }
            }
        }
        let inputShape = shape
        return Tensor.record("avg_pool", output: out, inputs: [self]) { g in
            let gx = Tensor.zeros(inputShape, planned: g.isPlanned)
            if gx.isPlanned { return [gx] }
            let gy = UnsafePointer(g.data), gxp = gx.data
            geometry.forEachSliceSafely { plane, od in
                let dst = gxp + plane * geometry.inputPlane
                var grad = gy + plane * geometry.outputPlane + od * geometry.output[1] * geometry.output[2]
                for oh in 0..<geometry.output[1] {
                    for ow in 0..<geometry.output[2] {
                        let start = geometry.windowStart(od, oh, ow), share = grad[ow] * scale
                        for kd in 0..<k[0] {
                            for kh in 0..<k[1] {
                                let row = dst + start + (kd * inner[1] + kh) * inner[2]
                                for kw in 0..<k[2] { row[kw] += share }
                            }
                        }
                    }
                    grad += geometry.output[2]
                }
            }
            return [gx]
        }
    }

    /// The mean of every (n, c) plane, shape [N, C, 1, ...] (rank kept, as squeeze-excitation uses it).
    public func globalAvgPool() -> Tensor {
        precondition(rank >= 2, "globalAvgPool: needs [N, C, ...], got \(shape)")
        let planes = shape[0] * shape[1], spatial = count / max(planes, 1)
        let outShape = [shape[0], shape[1]] + [Int](repeating: 1, count: rank - 2)
        let out = Tensor.empty(outShape, planned: isPlanned)
        if !isPlanned {
            let x = UnsafePointer(data), y = out.data
            Parallel.forEach(planes) { plane in
                let (s, _) = NormalizationKernels.shiftedMoments(x + plane * spatial, 0..<spatial, shift: 0)
                y[plane] = Float(s / Double(max(spatial, 1)))
            }
        }
        let inputShape = shape
        return Tensor.record("global_avg_pool", output: out, inputs: [self]) { g in
            let gx = Tensor.empty(inputShape, planned: g.isPlanned)
            if gx.isPlanned { return [gx] }
            let gy = UnsafePointer(g.data), gxp = gx.data
            Parallel.forEach(planes) { plane in
                (gxp + plane * spatial).update(repeating: gy[plane] / Float(spatial), count: spatial)
            }
            return [gx]
        }
    }
}
