import Foundation

/// Binary dilation of a mask on a [D, H, W] grid with the 3 x 3 x 3 structure of a connectivity
/// (the voxel and its 6, 18 or 26 neighbours), repeated `iterations` times, as scipy's
/// `binary_dilation(mask, structure=generate_binary_structure(3, rank), iterations=n)` with its
/// default `border_value=0`: voxels off the grid are background, so nothing grows in from outside.
///
/// One iteration is two passes over the grid, each parallel over z planes: first every row is
/// dilated along x (the voxel or a neighbour in the row), then each output row is the OR of the
/// nine rows around it (dz, dy in -1...1), taken x-dilated where the structure holds the row's x
/// neighbours at that (dz, dy) and plain where it holds only the voxel straight across. Both are
/// byte ORs over whole rows, which the compiler vectorises; a voxel-by-voxel loop over the 18 or
/// 26 neighbours is several times slower.
public enum BinaryDilation {
    /// `mask` and `output` hold shape.reduce(1, *) bytes and must not overlap; `mask` is read as
    /// nonzero = inside, `output` gets 0 or 1.
    public static func dilate(_ mask: UnsafePointer<UInt8>, shape: [Int], connectivity: Connectivity,
                              iterations: Int, into output: UnsafeMutablePointer<UInt8>) {
        precondition(shape.count == 3, "dilation needs a [D, H, W] grid, got \(shape)")
        precondition(iterations >= 0, "negative iteration count \(iterations)")
        let total = shape.reduce(1, *)
        guard total > 0 else { return }
        // Ping-pong between `output` and one scratch grid, ordered so that the last pass lands in
        // `output`; `rows` holds the x-dilated copy of the current source.
        let scratch = ScratchBuffer<UInt8>(count: total, planned: false)
        let rows = ScratchBuffer<UInt8>(count: total, planned: false)
        let other = scratch.pointer!
        var source = iterations % 2 == 1 ? other : output
        Parallel.forEachChunk(total, minimumChunk: 1 << 16) { range in
            for i in range { source[i] = mask[i] != 0 ? 1 : 0 }
        }
        for _ in 0..<iterations {
            let target = source == output ? other : output
            step(source, into: target, rows: rows.pointer!, shape: shape, connectivity: connectivity)
            source = target
        }
        withExtendedLifetime((scratch, rows)) {}
    }

    /// The dilated copy of `mask` (0 or 1 per voxel).
    public static func dilate(_ mask: [UInt8], shape: [Int], connectivity: Connectivity, iterations: Int) -> [UInt8] {
        precondition(mask.count == shape.reduce(1, *), "\(mask.count) voxels for a \(shape) grid")
        var out = [UInt8](repeating: 0, count: mask.count)
        mask.withUnsafeBufferPointer { m in
            out.withUnsafeMutableBufferPointer { o in
                guard let source = m.baseAddress, let target = o.baseAddress else { return }
                dilate(source, shape: shape, connectivity: connectivity, iterations: iterations, into: target)
            }
        }
        return out
    }

    /// One dilation of a 0/1 grid.
    static func step(_ source: UnsafeMutablePointer<UInt8>, into target: UnsafeMutablePointer<UInt8>,
                     rows: UnsafeMutablePointer<UInt8>, shape: [Int], connectivity: Connectivity) {
        let (nd, nh, nw) = (shape[0], shape[1], shape[2])
        Parallel.forEach(nd) { z in
            for y in 0..<nh {
                let s = source + (z * nh + y) * nw, r = rows + (z * nh + y) * nw
                for x in 0..<nw { r[x] = s[x] }
                if nw > 1 {
                    for x in 0..<(nw - 1) { r[x] |= s[x + 1] }
                    for x in 1..<nw { r[x] |= s[x - 1] }
                }
            }
        }
        // (dz, dy, wide): the rows each output row ORs; wide = the x-dilated row.
        var terms: [(dz: Int, dy: Int, wide: Bool)] = []
        for dz in -1...1 {
            for dy in -1...1 {
                if connectivity.contains(dz: dz, dy: dy, dx: 1) {
                    terms.append((dz, dy, true))
                } else if (dz == 0 && dy == 0) || connectivity.contains(dz: dz, dy: dy, dx: 0) {
                    terms.append((dz, dy, false))
                }
            }
        }
        Parallel.forEach(nd) { z in
            for y in 0..<nh {
                let t = target + (z * nh + y) * nw
                for x in 0..<nw { t[x] = 0 }
                for (dz, dy, wide) in terms {
                    let (zz, yy) = (z + dz, y + dy)
                    guard zz >= 0, zz < nd, yy >= 0, yy < nh else { continue }
                    let s = (wide ? rows : source) + (zz * nh + yy) * nw
                    for x in 0..<nw { t[x] |= s[x] }
                }
            }
        }
    }
}
