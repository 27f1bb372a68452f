import Foundation

/// The zero-padded, phase-split plane layout of the depthwise kernel.
///
/// A padded row holds the input columns x = iw + padW. It is stored as sW phases side by side:
/// phase x % sW, position x / sW. Output column ow with tap kw reads x = ow * sW + kw, which is
/// phase kw % sW, position ow + kw / sW: consecutive outputs read consecutive floats. Each phase
/// is long enough for full vectors past the last output, so the inner loop never checks bounds.
struct DepthwiseLayout {
    let input: [Int], output: [Int], kernel: [Int], stride: [Int], padding: [Int]
    /// Floats per phase of a padded row.
    let phaseLength: Int
    /// Floats per padded row (all phases).
    let rowPitch: Int
    /// Floats per padded plane, rounded to whole vectors.
    let planeSize: Int
    /// Output width rounded up to whole steps of two vectors.
    let paddedOutputWidth: Int

    init(_ g: ConvGeometry) {
        input = g.input; output = g.output; kernel = g.kernel; stride = g.stride; padding = g.padding
        let lanes = DepthwiseConv3d.lanes
        let sw = stride[2]
        // Whole steps of two vectors (the kW == 3 forward's step).
        paddedOutputWidth = (output[2] + 2 * lanes - 1) / (2 * lanes) * (2 * lanes)
        let paddedWidth = input[2] + 2 * padding[2]
        phaseLength = max((paddedWidth + sw - 1) / sw, paddedOutputWidth + (kernel[2] - 1) / sw)
        rowPitch = sw * phaseLength
        let paddedRows = input[1] + 2 * padding[1]
        planeSize = (paddedRows * rowPitch + lanes - 1) / lanes * lanes
    }

    /// Floats of a ring of kD padded planes.
    var ringCount: Int { kernel[0] * planeSize }

    /// Where padded column `x` lives inside a padded row.
    @inline(__always)
    func columnOffset(_ x: Int) -> Int { (x % stride[2]) * phaseLength + x / stride[2] }
}

/// kD padded planes of one channel: the window of input planes that one output plane reads (or,
/// in backward, the gradient planes it writes). Slot = input plane % kD, because the window's kD
/// planes are consecutive. A fresh ring (all slots empty) is used per channel.
struct DepthwiseRing {
    let layout: DepthwiseLayout
    let base: UnsafeMutablePointer<Float>
    /// The input plane each slot holds, -1 for none.
    var held: [Int]

    init(layout: DepthwiseLayout, base: UnsafeMutablePointer<Float>) {
        self.layout = layout
        self.base = base
        held = Array(repeating: -1, count: layout.kernel[0])
    }

    /// The input plane `od * sD - padD + kd` (nil inside the depth padding), copied into its slot
    /// unless it is there already. The slot's padding stays zero: copies write real positions only.
    mutating func inputPlane(od: Int, kd: Int, input: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        let id = od * layout.stride[0] - layout.padding[0] + kd
        guard id >= 0 && id < layout.input[0] else { return nil }
        let slot = id % layout.kernel[0]
        let plane = base + slot * layout.planeSize
        if held[slot] != id {
            let (inH, inW) = (layout.input[1], layout.input[2])
            let (ph, pw, sw) = (layout.padding[1], layout.padding[2], layout.stride[2])
            for ih in 0..<inH {
                let src = input + (id * inH + ih) * inW
                let row = plane + (ih + ph) * layout.rowPitch
                if sw == 1 {
                    (row + pw).update(from: src, count: inW)
                } else {
                    for iw in 0..<inW { row[layout.columnOffset(iw + pw)] = src[iw] }
                }
            }
            held[slot] = id
        }
        return plane
    }

    /// The gradient plane of input plane `od * sD - padD + kd` (nil inside the depth padding). A
    /// slot is written out to `gradInput` when a later plane needs it: by then no output can
    /// reach the plane it held any more (the window only moves forward).
    mutating func gradientPlane(od: Int, kd: Int, gradInput: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float>? {
        let id = od * layout.stride[0] - layout.padding[0] + kd
        guard id >= 0 && id < layout.input[0] else { return nil }
        let slot = id % layout.kernel[0]
        let plane = base + slot * layout.planeSize
        if held[slot] != id {
            if held[slot] >= 0 { writeOut(slot: slot, into: gradInput) }
            plane.update(repeating: 0, count: layout.planeSize)
            held[slot] = id
        }
        return plane
    }

    /// Writes every held gradient plane out (at the end of a channel).
    mutating func flushAll(gradInput: UnsafeMutablePointer<Float>) {
        for slot in 0..<held.count where held[slot] >= 0 {
            writeOut(slot: slot, into: gradInput)
            held[slot] = -1
        }
    }

    private func writeOut(slot: Int, into gradInput: UnsafeMutablePointer<Float>) {
        let id = held[slot]
        let plane = base + slot * layout.planeSize
        let (inH, inW) = (layout.input[1], layout.input[2])
        let (ph, pw, sw) = (layout.padding[1], layout.padding[2], layout.stride[2])
        for ih in 0..<inH {
            let dst = gradInput + (id * inH + ih) * inW
            let row = plane + (ih + ph) * layout.rowPitch
            if sw == 1 {
                dst.update(from: row + pw, count: inW)
            } else {
                for iw in 0..<inW { dst[iw] = row[layout.columnOffset(iw + pw)] }
            }
        }
    }
}
