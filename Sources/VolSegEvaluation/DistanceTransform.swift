import Foundation
import VolSegCore

/// Exact Euclidean distance transform of a 3D grid with anisotropic voxels, in squared millimetres.
///
/// Felzenszwalb & Huttenlocher (Theory of Computing 8, 2012): the squared distance is separable, so
/// one exact 1D transform per axis gives the exact 3D result. The first axis (x, contiguous) needs
/// only the distance to the nearest feature on the line; the other two take the lower envelope of
/// the parabolas f(p) + (s·(q − p))². Lines are independent, so each pass runs them in parallel;
/// strided lines are gathered a block of adjacent x at a time to stay within cache lines.
/// This is the transform scipy's `distance_transform_edt(sampling=...)` computes (MedPy's surface
/// distances use it), up to the last bits of the sums.
public enum DistanceTransform {
    /// Strided lines gathered together: 8 doubles, one cache line.
    static let block = 8

    /// For every voxel of the [nz, ny, nx] grid, the squared distance in mm² to the nearest voxel
    /// where `features` is nonzero, or +infinity when there is no feature at all.
    /// `spacingXYZ` is the voxel size along x, y, z (NIfTI's pixdim[1...3]).
    public static func squaredDistances(toFeatures features: UnsafePointer<UInt8>, shape: [Int],
                                        spacingXYZ: [Double], into out: UnsafeMutablePointer<Double>) {
        precondition(shape.count == 3 && spacingXYZ.count == 3, "a 3D grid [nz, ny, nx] and spacing (x, y, z)")
        let nz = shape[0], ny = shape[1], nx = shape[2]
        if nz * ny * nx == 0 { return }
        transformRows(features, nx: nx, rows: nz * ny, spacing: spacingXYZ[0], out: out)
        // y: lines of length ny with stride nx, nz planes of nx lines each.
        transformStrided(out, length: ny, stride: nx, lineCount: nx, outerCount: nz, outerStride: ny * nx,
                         spacing: spacingXYZ[1])
        // z: lines of length nz with stride ny * nx, ny rows of nx lines each.
        transformStrided(out, length: nz, stride: ny * nx, lineCount: nx, outerCount: ny, outerStride: nx,
                         spacing: spacingXYZ[2])
    }

    /// First pass: along each contiguous row, (s · distance to the nearest feature)², by two sweeps.
    static func transformRows(_ features: UnsafePointer<UInt8>, nx: Int, rows: Int, spacing: Double,
                              out: UnsafeMutablePointer<Double>) {
        let minimumRows = max(1, 16_384 / max(nx, 1))
        Parallel.forEachChunk(rows, minimumChunk: minimumRows) { range in
            for row in range {
                let f = features + row * nx, d = out + row * nx
                var last = -1
                for x in 0..<nx {
                    if f[x] != 0 { last = x }
                    d[x] = last < 0 ? .infinity : Double(x - last)
                }
                last = -1
                for x in stride(from: nx - 1, through: 0, by: -1) {
                    if f[x] != 0 { last = x }
                    if last >= 0 { d[x] = min(d[x], Double(last - x)) }
                }
                for x in 0..<nx where d[x].isFinite {
                    let mm = d[x] * spacing
                    d[x] = mm * mm
                }
            }
        }
    }

    /// Later passes: lines `data[outer * outerStride + line + i * stride]` for i in 0..<length,
    /// `lineCount` adjacent lines per outer index, gathered `block` lines at a time.
    static func transformStrided(_ data: UnsafeMutablePointer<Double>, length: Int, stride: Int, lineCount: Int,
                                 outerCount: Int, outerStride: Int, spacing: Double) {
        let blocksPerOuter = (lineCount + block - 1) / block
        let weight = spacing * spacing
        Parallel.forEach(outerCount * blocksPerOuter) { task in
            let outer = task / blocksPerOuter
            let first = (task % blocksPerOuter) * block
            let width = min(block, lineCount - first)
            let base = data + outer * outerStride + first
            withUnsafeTemporaryAllocation(of: Double.self, capacity: block * length) { gathered in
                withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * length + 1) { scratch in
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: length) { vertices in
                        for i in 0..<length {
                            let row = base + i * stride
                            for j in 0..<width { gathered[j * length + i] = row[j] }
                        }
                        let result = scratch.baseAddress!
                        let boundaries = scratch.baseAddress! + length
                        for j in 0..<width {
                            let line = gathered.baseAddress! + j * length
                            lowerEnvelope(line, count: length, weight: weight, vertices: vertices.baseAddress!,
                                          boundaries: boundaries, into: result)
                            for i in 0..<length { line[i] = result[i] }
                        }
                        for i in 0..<length {
                            let row = base + i * stride
                            for j in 0..<width { row[j] = gathered[j * length + i] }
                        }
                    }
                }
            }
        }
    }

    /// The 1D transform d(q) = min over p of f(p) + weight · (q − p)², skipping infinite f(p)
    /// (no feature on that line so far). `vertices` holds `count` ints, `boundaries` count + 1 doubles.
    static func lowerEnvelope(_ f: UnsafePointer<Double>, count: Int, weight: Double,
                              vertices: UnsafeMutablePointer<Int>, boundaries: UnsafeMutablePointer<Double>,
                              into d: UnsafeMutablePointer<Double>) {
        var k = -1
        for q in 0..<count where f[q].isFinite {
            if k < 0 {
                k = 0
                vertices[0] = q
                boundaries[0] = -.infinity
                boundaries[1] = .infinity
                continue
            }
            let fq = f[q] + weight * Double(q * q)
            var s: Double
            repeat {
                let p = vertices[k]
                s = (fq - (f[p] + weight * Double(p * p))) / (2 * weight * Double(q - p))
                if s <= boundaries[k] { k -= 1 } else { break }
            } while true
            k += 1
            vertices[k] = q
            boundaries[k] = s
            boundaries[k + 1] = .infinity
        }
        if k < 0 {
            for q in 0..<count { d[q] = .infinity }
            return
        }
        k = 0
        for q in 0..<count {
            while boundaries[k + 1] < Double(q) { k += 1 }
            let p = vertices[k], offset = Double(q - p)
            d[q] = f[p] + weight * offset * offset
        }
    }
}
