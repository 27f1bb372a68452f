import Foundation
import VolSegCore

/// Cuts one patch out of a case, with or without a rotation/zoom: every output voxel looks up its
/// source position in the whole case (trilinear for the image, nearest for labels, zero outside),
/// so rotated patches show real neighbouring tissue at their corners, not padding.
struct SpatialPatch {
    /// [D, H, W].
    let patchSize: [Int]
    /// 3x3 matrix (row-major, D/H/W axes) from output offsets to source offsets; nil = plain crop.
    let transform: [Double]?

    /// Writes the patch with lower corner `lower` (its centre when transformed) into `image`
    /// (C x patch voxels) and `labels` (patch voxels).
    func extract(from item: TrainingCase, lower: [Int], image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Float>) {
        if let transform {
            resample(item, lower: lower, matrix: transform, image: image, labels: labels)
        } else {
            crop(item, lower: lower, image: image, labels: labels)
        }
    }

    private func crop(_ item: TrainingCase, lower: [Int], image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Float>) {
        let shape = item.spatialShape, (pd, ph, pw) = (patchSize[0], patchSize[1], patchSize[2])
        let channels = item.channelCount, volume = shape[0] * shape[1] * shape[2], patchVolume = pd * ph * pw
        let src = item.image.data, srcLabels = item.labels.data
        // Rows of W that fall inside the volume are copied; everything else is zero (padding).
        let w0 = max(0, -lower[2]), w1 = min(pw, shape[2] - lower[2])
        Parallel.forEach(pd) { d in
            let sd = lower[0] + d
            for h in 0..<ph {
                let sh = lower[1] + h
                let out = d * ph * pw + h * pw
                let inside = sd >= 0 && sd < shape[0] && sh >= 0 && sh < shape[1] && w0 < w1
                for c in 0...channels {
                    let dst = c < channels ? image + c * patchVolume + out : labels + out
                    guard inside else { dst.update(repeating: 0, count: pw); continue }
                    let base = c < channels ? src + c * volume : srcLabels
                    let row = base + (sd * shape[1] + sh) * shape[2] + lower[2]
                    if w0 > 0 { dst.update(repeating: 0, count: w0) }
                    (dst + w0).update(from: row + w0, count: w1 - w0)
                    if w1 < pw { (dst + w1).update(repeating: 0, count: pw - w1) }
                }
            }
        }
    }

    private func resample(_ item: TrainingCase, lower: [Int], matrix m: [Double],
                          image: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Float>) {
        let shape = item.spatialShape, (pd, ph, pw) = (patchSize[0], patchSize[1], patchSize[2])
        let channels = item.channelCount, volume = shape[0] * shape[1] * shape[2], patchVolume = pd * ph * pw
        let src = item.image.data, srcLabels = item.labels.data
        let half = patchSize.map { Double($0 - 1) / 2 }
        let centre = (0..<3).map { Double(lower[$0]) + half[$0] }
        let (sd, sh, sw) = (shape[0], shape[1], shape[2])
        Parallel.forEach(pd) { d in
            let od = Double(d) - half[0]
            for h in 0..<ph {
                let oh = Double(h) - half[1]
                for w in 0..<pw {
                    let ow = Double(w) - half[2]
                    let z = centre[0] + m[0] * od + m[1] * oh + m[2] * ow
                    let y = centre[1] + m[3] * od + m[4] * oh + m[5] * ow
                    let x = centre[2] + m[6] * od + m[7] * oh + m[8] * ow
                    let out = (d * ph + h) * pw + w
                    // Labels: the nearest voxel, background outside.
                    let nz = Int((z).rounded()), ny = Int((y).rounded()), nx = Int((x).rounded())
                    labels[out] = nz >= 0 && nz < sd && ny >= 0 && ny < sh && nx >= 0 && nx < sw
                        ? srcLabels[(nz * sh + ny) * sw + nx] : 0
                    // Image: trilinear over the 8 neighbours, each outside neighbour counting as 0.
                    let z0 = Int(z.rounded(.down)), y0 = Int(y.rounded(.down)), x0 = Int(x.rounded(.down))
                    let fz = Float(z - Double(z0)), fy = Float(y - Double(y0)), fx = Float(x - Double(x0))
                    if z0 < -1 || z0 >= sd || y0 < -1 || y0 >= sh || x0 < -1 || x0 >= sw {
                        for c in 0..<channels { image[c * patchVolume + out] = 0 }
                        continue
                    }
                    var o = SIMD8<Int>(repeating: 0), wt = SIMD8<Float>(repeating: 0)
                    var k = 0
                    for dz in 0...1 {
                        let zz = z0 + dz, wz = dz == 0 ? 1 - fz : fz
                        for dy in 0...1 {
                            let yy = y0 + dy, wy = dy == 0 ? 1 - fy : fy
                            for dx in 0...1 {
                                let xx = x0 + dx, wx = dx == 0 ? 1 - fx : fx
                                if zz >= 0 && zz < sd && yy >= 0 && yy < sh && xx >= 0 && xx < sw {
                                    o[k] = (zz * sh + yy) * sw + xx
                                    wt[k] = wz * wy * wx
                                }
                                k += 1
                            }
                        }
                    }
                    for c in 0..<channels {
                        let base = src + c * volume
                        var v: Float = 0
                        for k in 0..<8 { v += wt[k] * base[o[k]] }
                        image[c * patchVolume + out] = v
                    }
                }
            }
        }
    }

    /// Rotation about the D, H and W axes by the given angles (radians), then an isotropic zoom:
    /// output offsets are multiplied by `zoom` to find the source (zoom < 1 magnifies).
    static func matrix(angles: [Double], zoom: Double) -> [Double] {
        func multiply(_ a: [Double], _ b: [Double]) -> [Double] {
            var r = [Double](repeating: 0, count: 9)
            for i in 0..<3 { for j in 0..<3 { for k in 0..<3 { r[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j] } } }
            return r
        }
        let (a, b, c) = (angles[0], angles[1], angles[2])
        let rd: [Double] = [1, 0, 0, 0, cos(a), -sin(a), 0, sin(a), cos(a)]
        let rh: [Double] = [cos(b), 0, sin(b), 0, 1, 0, -sin(b), 0, cos(b)]
        let rw: [Double] = [cos(c), -sin(c), 0, sin(c), cos(c), 0, 0, 0, 1]
        return multiply(multiply(rd, rh), rw).map { $0 * zoom }
    }
}
