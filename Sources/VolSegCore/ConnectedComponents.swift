import Foundation

/// Which neighbours touch: 6 share a face (scipy's and nnU-Net's default), 18 also share an edge
/// (scipy's `generate_binary_structure(3, 2)`), 26 also share a corner (cc3d's default).
public enum Connectivity: Int, Sendable, CaseIterable {
    case faces = 6
    case edges = 18
    case corners = 26

    /// Whether the offset (each of dz, dy, dx in -1...1, not all 0) is a neighbour.
    package func contains(dz: Int, dy: Int, dx: Int) -> Bool {
        let steps = abs(dz) + abs(dy) + abs(dx)
        switch self {
        case .faces: return steps == 1
        case .edges: return steps == 1 || steps == 2
        case .corners: return steps >= 1
        }
    }

    /// The neighbours already visited in raster order (z, then y, then x): half of them.
    var backwardOffsets: [(dz: Int, dy: Int, dx: Int)] {
        var offsets: [(Int, Int, Int)] = []
        for dz in -1...0 {
            for dy in -1...1 {
                for dx in -1...1 where (dz < 0 || dy < 0 || (dy == 0 && dx < 0)) && contains(dz: dz, dy: dy, dx: dx) {
                    offsets.append((dz, dy, dx))
                }
            }
        }
        return offsets
    }
}

/// Connected components of a binary mask on a [D, H, W] grid, by union-find.
///
/// Slabs of z-slices are labelled in parallel (each worker links only voxels of its own slab),
/// then slab boundaries are joined, then one pass in voxel order numbers the components. Every
/// link points to a smaller voxel index, so a set's root is its first voxel and one forward pass
/// resolves every voxel. The per-voxel table (4 bytes a voxel) is allocated through the memory
/// ledger, like any scratch buffer.
public struct ConnectedComponents {
    /// [D, H, W] of the grid.
    public let shape: [Int]
    /// Voxel count of each component, components numbered 0..<count in order of their first voxel.
    public let sizes: [Int]
    /// Per voxel: the component number, or -1 for background. Empty (planned) in planning mode.
    package let table: ScratchBuffer<Int32>

    public var count: Int { sizes.count }

    /// The component of voxel `index` (z, y, x flattened), or nil for background.
    public func component(at index: Int) -> Int? {
        let v = table.pointer![index]
        return v < 0 ? nil : Int(v)
    }

    /// Labels the voxels where `mask` is nonzero. `mask` holds shape.reduce(1, *) bytes.
    public init(mask: UnsafePointer<UInt8>?, shape: [Int], connectivity: Connectivity) {
        precondition(shape.count == 3, "components need a [D, H, W] grid")
        self.shape = shape
        let total = shape.reduce(1, *)
        precondition(total < Int(Int32.max), "components index voxels with Int32; \(shape) is too large")
        table = ScratchBuffer<Int32>(count: total, planned: mask == nil)
        guard let mask, let parent = table.pointer else { sizes = []; return }
        let (nd, nh, nw) = (shape[0], shape[1], shape[2]), plane = nh * nw
        let offsets = connectivity.backwardOffsets

        func find(_ start: Int32) -> Int32 {
            var x = start
            while parent[Int(x)] != x {
                let grand = parent[Int(parent[Int(x)])]
                parent[Int(x)] = grand   // path halving
                x = grand
            }
            return x
        }
        func union(_ a: Int32, _ b: Int32) {
            let ra = find(a), rb = find(b)
            if ra < rb { parent[Int(rb)] = ra } else if rb < ra { parent[Int(ra)] = rb }
        }
        // Links voxel (z, y, x) to its visited neighbours whose slice is at least `lowestZ`.
        func link(z: Int, y: Int, x: Int, lowestZ: Int, onlyPreviousSlice: Bool) {
            let i = (z * nh + y) * nw + x
            for (dz, dy, dx) in offsets {
                if onlyPreviousSlice && dz == 0 { continue }
                let (zz, yy, xx) = (z + dz, y + dy, x + dx)
                if zz < lowestZ || yy < 0 || yy >= nh || xx < 0 || xx >= nw { continue }
                let j = (zz * nh + yy) * nw + xx
                if mask[j] != 0 { union(Int32(i), Int32(j)) }
            }
        }

        let slabs = max(1, min(nd, Parallel.threadCount * 2))
        let slabSize = (nd + slabs - 1) / slabs
        Parallel.forEach(slabs) { s in
            let (z0, z1) = (s * slabSize, min(nd, (s + 1) * slabSize))
            guard z0 < z1 else { return }
            for i in (z0 * plane)..<(z1 * plane) { parent[i] = mask[i] != 0 ? Int32(i) : -1 }
            for z in z0..<z1 {
                for y in 0..<nh {
                    for x in 0..<nw where mask[(z * nh + y) * nw + x] != 0 {
                        link(z: z, y: y, x: x, lowestZ: z0, onlyPreviousSlice: false)
                    }
                }
            }
        }
        // The first slice of every slab but the first, against the slice before it.
        for s in 1..<slabs where s * slabSize < nd {
            let z = s * slabSize
            for y in 0..<nh {
                for x in 0..<nw where mask[(z * nh + y) * nw + x] != 0 {
                    link(z: z, y: y, x: x, lowestZ: 0, onlyPreviousSlice: true)
                }
            }
        }
        // Parents always precede their children, so in index order each voxel's parent already
        // holds its component number, stored as -(number + 2) to tell it from an index.
        var sizes: [Int] = []
        for i in 0..<total {
            let p = parent[i]
            if p < 0 { continue }
            if Int(p) == i {
                parent[i] = -Int32(sizes.count) - 2
                sizes.append(1)
            } else {
                let code = parent[Int(p)]
                parent[i] = code
                sizes[Int(-code - 2)] += 1
            }
        }
        Parallel.forEachChunk(total, minimumChunk: 1 << 16) { range in
            for i in range where parent[i] < -1 { parent[i] = -parent[i] - 2 }
        }
        self.sizes = sizes
    }
}

/// A scratch array of a plain type, allocated through `TensorStorage` so that the memory ledger
/// counts it (and a planned one takes no memory).
package final class ScratchBuffer<Element> {
    let storage: TensorStorage
    package let count: Int

    package init(count: Int, planned: Bool, zeroed: Bool = false) {
        precondition(MemoryLayout<Element>.stride <= MemoryLayout<Float>.stride * 4, "scratch elements are small")
        self.count = count
        let floats = (count * MemoryLayout<Element>.stride + MemoryLayout<Float>.stride - 1) / MemoryLayout<Float>.stride
        storage = TensorStorage(count: floats, planned: planned, zeroed: zeroed)
    }

    /// nil for a planned buffer.
    package var pointer: UnsafeMutablePointer<Element>? {
        storage.pointer.map { UnsafeMutableRawPointer($0).bindMemory(to: Element.self, capacity: count) }
    }
}
