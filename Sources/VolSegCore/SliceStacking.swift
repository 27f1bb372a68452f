import Foundation

// Moving between a volume and its slices, as H-DenseUNet does: a 2D network sees every slice of a
// slab with its neighbours as channels, and its per-slice outputs are stacked back into a volume
// for the 3D network. Both are copies of whole H x W planes, spread over the workers; each op's
// backward is the matching gather, so no two tasks ever write the same plane.

extension Tensor {
    /// `[N, C, D, H, W]` -> `[N * D, C * (2r + 1), H, W]`: slice d of sample n becomes image
    /// `n * D + d` whose channels are slices d - r ... d + r (offset outer, input channel inner),
    /// the edge slices repeated where a neighbour falls outside the volume (H-DenseUNet's rule).
    public func neighbourSliceStack(radius: Int = 1) -> Tensor {
        precondition(rank == 5, "neighbourSliceStack: needs [N, C, D, H, W], got \(shape)")
        precondition(radius >= 0, "neighbourSliceStack: radius \(radius) must be >= 0")
        let (n, c, depth, plane) = (shape[0], shape[1], shape[2], shape[3] * shape[4])
        let offsets = 2 * radius + 1
        let out = Tensor.empty([n * depth, c * offsets, shape[3], shape[4]], planned: isPlanned)
        // Output plane (sample, slice, offset, channel) reads input plane (sample, channel, source).
        func source(_ d: Int, _ k: Int) -> Int { min(max(d + k - radius, 0), depth - 1) }
        if !isPlanned {
            let x = UnsafePointer(data), y = out.data
            Parallel.forEach(n * depth * offsets * c) { task in
                let channel = task % c, k = (task / c) % offsets, d = (task / (c * offsets)) % depth
                let sample = task / (c * offsets * depth)
                let from = ((sample * c + channel) * depth + source(d, k)) * plane
                (y + task * plane).update(from: x + from, count: plane)
            }
        }
        let inputShape = shape
        return Tensor.record("neighbour_slice_stack", output: out, inputs: [self]) { g in
            let gx = Tensor.empty(inputShape, planned: g.isPlanned)
            if gx.isPlanned { return [gx] }
            // Each input slice gathers the output planes that copied it: (d, k) with source == s.
            var readers = [[(d: Int, k: Int)]](repeating: [], count: depth)
            for d in 0..<depth { for k in 0..<offsets { readers[source(d, k)].append((d, k)) } }
            let gy = UnsafePointer(g.data), gxp = gx.data
            Parallel.forEach(n * c * depth) { task in
                let s = task % depth, channel = (task / depth) % c, sample = task / (depth * c)
                let dst = gxp + task * plane
                dst.update(repeating: 0, count: plane)
                for (d, k) in readers[s] {
                    let src = gy + (((sample * depth + d) * offsets + k) * c + channel) * plane
                    for i in 0..<plane { dst[i] += src[i] }
                }
            }
            return [gx]
        }
    }

    /// `[N * D, C, H, W]` (slices of N volumes, slice index inner) -> `[N, C, D, H, W]`.
    public func volumeFromSlices(depth: Int) -> Tensor {
        precondition(rank == 4 && depth > 0 && shape[0] % depth == 0,
                     "volumeFromSlices: needs [N * \(depth), C, H, W], got \(shape)")
        let n = shape[0] / depth, c = shape[1]
        return swappingDepthAndChannels(to: [n, c, depth, shape[2], shape[3]], name: "volume_from_slices")
    }

    /// `[N, C, D, H, W]` -> `[N * D, C, H, W]`, the inverse of `volumeFromSlices`.
    public func slicesFromVolume() -> Tensor {
        precondition(rank == 5, "slicesFromVolume: needs [N, C, D, H, W], got \(shape)")
        return swappingDepthAndChannels(to: [shape[0] * shape[2], shape[1], shape[3], shape[4]],
                                        name: "slices_from_volume")
    }

    /// The plane permutation (n, d, c) <-> (n, c, d) shared by the two conversions above.
    private func swappingDepthAndChannels(to outShape: [Int], name: String) -> Tensor {
        let toVolume = outShape.count == 5
        let (n, c, depth) = toVolume ? (outShape[0], outShape[1], outShape[2])
                                     : (shape[0], shape[1], shape[2])
        let plane = shape[shape.count - 2] * shape[shape.count - 1]
        let out = Tensor.empty(outShape, planned: isPlanned)
        if !isPlanned {
            let x = UnsafePointer(data), y = out.data
            Parallel.forEach(n * c * depth) { task in
                // task enumerates volume planes (sample, channel, slice).
                let d = task % depth, channel = (task / depth) % c, sample = task / (depth * c)
                let slicePlane = (sample * depth + d) * c + channel
                if toVolume {
                    (y + task * plane).update(from: x + slicePlane * plane, count: plane)
                } else {
                    (y + slicePlane * plane).update(from: x + task * plane, count: plane)
                }
            }
        }
        return Tensor.record(name, output: out, inputs: [self]) { g in
            [toVolume ? g.slicesFromVolume() : g.volumeFromSlices(depth: depth)]
        }
    }
}
