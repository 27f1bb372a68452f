import Foundation

/// The im2col panel of a slab of output rows, and its inverse (col2im), for one batch item and
/// one group of a convolution.
///
/// The panel is `patchSize` x `slabColumns`, row-major: row (ci, kd, kh, kw), column (output row
/// in the slab, ow). That orientation makes each panel row a run of whole output rows, so with
/// stride 1 along W a panel row is filled by plain copies of input rows, and the GEMM
/// `Y[Cout, columns] = W[Cout, K] x panel[K, columns]` writes straight into the output's channel
/// planes (the slab's output positions are contiguous in each plane).
enum Im2col {
    /// Valid output columns for kernel tap `kw`: those whose input column ow*s - pad + kw is inside
    /// 0..<width. The rest read the zero padding.
    @inline(__always)
    static func validColumns(tap kw: Int, stride s: Int, padding p: Int, inputWidth w: Int, outputWidth ow: Int) -> Range<Int> {
        let low = min(ow, (max(0, p - kw) + s - 1) / s)
        let lastInput = w - 1 + p - kw
        let high = lastInput < 0 ? 0 : min(ow, lastInput / s + 1)
        return low..<max(low, high)
    }

    /// Fills `panel` with the patches of output rows `rows` (flat (od, oh) indices). `input`
    /// points at the group's first input channel of one batch item. When `parallel`, spread over
    /// panel rows: each thread writes its own rows.
    static func fill(panel: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
                     geometry g: ConvGeometry, rows: Range<Int>, parallel: Bool = true) {
        let (kD, kH, kW) = (g.kernel[0], g.kernel[1], g.kernel[2])
        let (inD, inH, inW) = (g.input[0], g.input[1], g.input[2])
        let (sd, sh, sw) = (g.stride[0], g.stride[1], g.stride[2])
        let (pd, ph, pw) = (g.padding[0], g.padding[1], g.padding[2])
        let outH = g.output[1], outW = g.output[2]
        let columns = rows.count * outW
        let panelRows = g.patchSize
        let fillRows = { (chunk: Range<Int>) in
            for k in chunk {
                let kw = k % kW, kh = (k / kW) % kH, kd = (k / (kW * kH)) % kD, ci = k / (kW * kH * kD)
                let valid = validColumns(tap: kw, stride: sw, padding: pw, inputWidth: inW, outputWidth: outW)
                let channel = input + ci * inD * inH * inW
                var dst = panel + k * columns
                for r in rows {
                    let od = r / outH, oh = r % outH
                    let id = od * sd - pd + kd, ih = oh * sh - ph + kh
                    if id < 0 || id >= inD || ih < 0 || ih >= inH || valid.isEmpty {
                        dst.update(repeating: 0, count: outW)
                    } else {
                        if valid.lowerBound > 0 { dst.update(repeating: 0, count: valid.lowerBound) }
                        let src = channel + (id * inH + ih) * inW - pw + kw
                        if sw == 1 {
                            (dst + valid.lowerBound).update(from: src + valid.lowerBound, count: valid.count)
                        } else {
                            for ow in valid { dst[ow] = src[ow * sw] }
                        }
                        if valid.upperBound < outW {
                            (dst + valid.upperBound).update(repeating: 0, count: outW - valid.upperBound)
                        }
                    }
                    dst += outW
                }
            }
        }
        if parallel {
            Parallel.forEachChunk(panelRows, minimumChunk: max(1, 8192 / max(columns, 1)), fillRows)
        } else {
            fillRows(0..<panelRows)
        }
    }

    /// Adds a panel of patch gradients back into the input gradient (col2im), the transpose of
    /// `fill`. `gradInput` points at the group's first input channel of one batch item. Spread over
    /// input channels: all of a channel's taps land in that channel only, so threads never write
    /// the same element.
    static func accumulate(panel: UnsafePointer<Float>, into gradInput: UnsafeMutablePointer<Float>,
                           geometry g: ConvGeometry, rows: Range<Int>) {
        let (kD, kH, kW) = (g.kernel[0], g.kernel[1], g.kernel[2])
        let (inD, inH, inW) = (g.input[0], g.input[1], g.input[2])
        let (sd, sh, sw) = (g.stride[0], g.stride[1], g.stride[2])
        let (pd, ph, pw) = (g.padding[0], g.padding[1], g.padding[2])
        let outH = g.output[1], outW = g.output[2]
        let columns = rows.count * outW
        let taps = kD * kH * kW
        Parallel.forEach(g.groupInputChannels) { ci in
            let channel = gradInput + ci * inD * inH * inW
            for tap in 0..<taps {
                let kw = tap % kW, kh = (tap / kW) % kH, kd = tap / (kW * kH)
                let valid = validColumns(tap: kw, stride: sw, padding: pw, inputWidth: inW, outputWidth: outW)
                if valid.isEmpty { continue }
                var src = panel + (ci * taps + tap) * columns
                for r in rows {
                    defer { src += outW }
                    let od = r / outH, oh = r % outH
                    let id = od * sd - pd + kd, ih = oh * sh - ph + kh
                    if id < 0 || id >= inD || ih < 0 || ih >= inH { continue }
                    let dst = channel + (id * inH + ih) * inW - pw + kw
                    if sw == 1 {
                        for ow in valid { dst[ow] += src[ow] }
                    } else {
                        for ow in valid { dst[ow * sw] += src[ow] }
                    }
                }
            }
        }
    }
}
