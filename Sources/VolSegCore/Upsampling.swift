import Foundation

// Nearest and (tri)linear resampling of [N, C, D, H, W] (or [N, C, H, W]) with PyTorch's
// `interpolate` semantics (align_corners = false), by integer scale factors or to any size.
//
// Both are separable: output = (A_D ⊗ A_H ⊗ A_W) input, with one small sparse matrix per axis
// (one tap per output for nearest, two for linear). Backward applies the transposed matrices with
// the same kernel, as a gather: every input voxel collects its own gradient, so tasks never write
// to the same voxel and no temporary volume is needed.

/// Where nearest-neighbour resampling reads. VolSeg has two rules, and both are needed:
///
/// - `floor`, PyTorch's `interpolate(mode="nearest")`: the networks' nearest upsampling layers
///   (STU-Net, the dense U-Nets) must match their PyTorch references, and the golden
///   `upsample_nearest_x2` pins it. For integer upsampling factors it equals the centre rule.
///   Deep-supervision targets use it too (LossFunction.swift). Note that nnU-Net v2 does not:
///   its `DownsampleSegForDSTransform` (batchgeneratorsv2) uses `interpolate(mode="nearest-exact")`,
///   and the older `DownsampleSegForDSTransform2` skimage's order-0 `resize`, both the centre rule
///   (halving reads voxel 2j + 1 where the floor rule reads 2j).
/// - `centreAligned`, voxel centres aligned (PyTorch's `nearest-exact`, skimage's order 0): the
///   preprocessing grid rule for label maps (`Resampler.nearestCentreAligned`), because going to a
///   finer grid and back returns every label exactly.
public enum NearestNeighbourRule: Sendable {
    case floor
    case centreAligned

    /// The input index that output index `j` reads on an axis of `input` -> `output` voxels.
    @inline(__always)
    public func source(_ j: Int, input: Int, output: Int) -> Int {
        switch self {
        case .floor:
            // src = min(floor(dst * scale), input - 1) in Float as PyTorch computes it, with its
            // shortcuts for equal sizes and exact doubling.
            if output == input { return j }
            if output == 2 * input { return j >> 1 }
            return min(Int((Float(j) * (Float(input) / Float(output))).rounded(.down)), input - 1)
        case .centreAligned:
            // src = min(floor((dst + 0.5) * input / output), input - 1), exact in Float64.
            return min(input - 1, Int((Double(j) + 0.5) * Double(input) / Double(output)))
        }
    }
}

/// One axis of a resampling: for every output index, the input indices it reads and their weights
/// (compressed rows).
struct ResamplingAxis {
    let outputs: Int
    let inputs: Int
    var start: [Int]
    var index: [Int]
    var weight: [Float]

    /// PyTorch's linear source index for align_corners = false: src = scale * (dst + 0.5) - 0.5,
    /// clamped at 0, in Float as PyTorch computes it; `scale` is 1 / factor or input / output.
    static func linear(input: Int, output: Int, scale: Float) -> ResamplingAxis {
        var axis = ResamplingAxis(outputs: output, inputs: input, start: [0], index: [], weight: [])
        for j in 0..<output {
            let source = max(0, scale * (Float(j) + 0.5) - 0.5)
            let lower = min(Int(source), input - 1)
            let upper = lower < input - 1 ? lower + 1 : lower
            let upperWeight = min(1, source - Float(lower))
            axis.index += [lower, upper]
            axis.weight += [1 - upperWeight, upperWeight]
            axis.start.append(axis.index.count)
        }
        return axis
    }

    /// One tap per output, at the input index `rule` picks.
    static func nearest(input: Int, output: Int, rule: NearestNeighbourRule) -> ResamplingAxis {
        var axis = ResamplingAxis(outputs: output, inputs: input, start: [0], index: [], weight: [])
        for j in 0..<output {
            axis.index.append(rule.source(j, input: input, output: output))
            axis.weight.append(1)
            axis.start.append(axis.index.count)
        }
        return axis
    }

    /// The transposed matrix: for every input index, the outputs that read it.
    func transposed() -> ResamplingAxis {
        var counts = [Int](repeating: 0, count: inputs + 1)
        for i in index { counts[i + 1] += 1 }
        for i in 0..<inputs { counts[i + 1] += counts[i] }
        var fill = counts
        var newIndex = [Int](repeating: 0, count: index.count)
        var newWeight = [Float](repeating: 0, count: index.count)
        for j in 0..<outputs {
            for t in start[j]..<start[j + 1] {
                let i = index[t]
                newIndex[fill[i]] = j
                newWeight[fill[i]] = weight[t]
                fill[i] += 1
            }
        }
        return ResamplingAxis(outputs: inputs, inputs: outputs, start: counts, index: newIndex, weight: newWeight)
    }
}

/// The three axes of a resampling (D, H, W; D is a single tap for 2D input).
struct Resampling {
    let axes: [ResamplingAxis]

    func transposed() -> Resampling { Resampling(axes: axes.map { $0.transposed() }) }

    /// Applies the resampling to every plane of `x` ([planes, in D, in H, in W]) into `y`.
    /// One task per (plane, output slice); each output row is built from one input-width row that
    /// sums the contributing input rows (a vectorised axpy), then resampled along W.
    func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int) {
        let (ad, ah, aw) = (axes[0], axes[1], axes[2])
        let inRow = aw.inputs, outRow = aw.outputs
        let inPlane = ad.inputs * ah.inputs * inRow, outPlane = ad.outputs * ah.outputs * outRow
        Parallel.forEach(planes * ad.outputs) { task in
            let plane = task / ad.outputs, od = task % ad.outputs
            let src = x + plane * inPlane
            var dst = y + plane * outPlane + od * ah.outputs * outRow
            withUnsafeTemporaryAllocation(of: Float.self, capacity: inRow) { rowBuffer in
                let row = rowBuffer.baseAddress!
                for oh in 0..<ah.outputs {
                    row.update(repeating: 0, count: inRow)
                    for td in ad.start[od]..<ad.start[od + 1] {
                        for th in ah.start[oh]..<ah.start[oh + 1] {
                            let w = ad.weight[td] * ah.weight[th]
                            let line = src + (ad.index[td] * ah.inputs + ah.index[th]) * inRow
                            for i in 0..<inRow { row[i] += w * line[i] }
                        }
                    }
                    for ow in 0..<outRow {
                        var s: Float = 0
                        for tw in aw.start[ow]..<aw.start[ow + 1] { s += aw.weight[tw] * row[aw.index[tw]] }
                        dst[ow] = s
                    }
                    dst += outRow
                }
            }
        }
    }
}

extension Tensor {
    /// Nearest-neighbour upsampling by an integer factor per spatial axis (PyTorch `nearest`; for
    /// integer factors both nearest rules agree).
    public func upsampleNearest(scale: [Int]) -> Tensor {
        let size = scaledSize(scale, name: "upsampleNearest")
        return resampled(name: "upsample_nearest", size: size) { input, output, _ in
            ResamplingAxis.nearest(input: input, output: output, rule: .floor)
        }
    }

    /// Trilinear upsampling by an integer factor per spatial axis (bilinear for [N, C, H, W]),
    /// align_corners = false, as PyTorch's `interpolate(scale_factor:)`.
    public func upsampleTrilinear(scale: [Int]) -> Tensor {
        let size = scaledSize(scale, name: "upsampleTrilinear")
        return resampled(name: "upsample_trilinear", size: size) {
            ResamplingAxis.linear(input: $0, output: $1, scale: 1 / Float(scale[$2]))
        }
    }

    /// Trilinear resampling to a given spatial size (bilinear for [N, C, H, W]), align_corners =
    /// false, as PyTorch's `interpolate(size:)`. Used to resample volumes to a target spacing.
    public func resizedTrilinear(to size: [Int]) -> Tensor {
        resampled(name: "resize_trilinear", size: size) { input, output, _ in
            ResamplingAxis.linear(input: input, output: output, scale: Float(input) / Float(output))
        }
    }

    /// Nearest-neighbour resampling to a given spatial size with the stated rule: `.floor` is
    /// PyTorch's `interpolate(size:)` with mode `nearest`, `.centreAligned` its `nearest-exact`.
    public func resizedNearest(to size: [Int], rule: NearestNeighbourRule) -> Tensor {
        resampled(name: "resize_nearest", size: size) { input, output, _ in
            ResamplingAxis.nearest(input: input, output: output, rule: rule)
        }
    }

    private func scaledSize(_ scale: [Int], name: String) -> [Int] {
        precondition(rank == 4 || rank == 5, "\(name): needs [N, C, (D,) H, W], got \(shape)")
        precondition(scale.count == rank - 2 && scale.allSatisfy { $0 > 0 },
                     "\(name): scale \(scale) needs \(rank - 2) positive factors for \(shape)")
        return zip(shape[2...], scale).map { $0 * $1 }
    }

    /// Builds the per-axis matrices with `makeAxis(input, output, spatialAxis)` and applies them.
    private func resampled(name: String, size: [Int],
                           makeAxis: (Int, Int, Int) -> ResamplingAxis) -> Tensor {
        precondition(rank == 4 || rank == 5, "\(name): needs [N, C, (D,) H, W], got \(shape)")
        precondition(size.count == rank - 2 && size.allSatisfy { $0 > 0 },
                     "\(name): size \(size) needs \(rank - 2) positive extents for \(shape)")
        precondition(shape[2...].allSatisfy { $0 > 0 }, "\(name): empty input \(shape)")
        let spatial = Array(shape[2...])
        var axes = zip(spatial, size).enumerated().map { makeAxis($0.element.0, $0.element.1, $0.offset) }
        if rank == 4 { axes.insert(ResamplingAxis.nearest(input: 1, output: 1, rule: .floor), at: 0) }
        let resampling = Resampling(axes: axes)
        let planes = shape[0] * shape[1]
        let out = Tensor.empty([shape[0], shape[1]] + size, planned: isPlanned)
        if !isPlanned { resampling.apply(data, out.data, planes: planes) }
        let inputShape = shape
        return Tensor.record(name, output: out, inputs: [self]) { g in
            let gx = Tensor.empty(inputShape, planned: g.isPlanned)
            if !gx.isPlanned { resampling.transposed().apply(g.data, gx.data, planes: planes) }
            return [gx]
        }
    }
}
