import Foundation

/// The surface area DeepMind's surface-distance package (`surface_distance.lookup_tables`) gives a
/// corner of the voxel grid, for each of the 256 codes of the 2x2x2 voxels around it, derived here
/// by our own marching-cubes polygonisation of the cube (their normals table is not used).
///
/// The cube's corners are the 8 voxels of the neighbourhood at offsets (x, y, z) ∈ {0, 1}³; the
/// code has bit 7 − (4x + 2y + z) set when that voxel is inside (their correlation kernel
/// [[[128, 64], [32, 16]], [[8, 4], [2, 1]]] over nibabel's (x, y, z) axes). The surface is cut at
/// the midpoints of the edges joining an inside and an outside corner; each face contributes the
/// segments between its cut edges, the segments close into loops, and each loop is split into
/// triangles whose area vectors (cross product / 2, in voxel units) are kept. At a spacing
/// (sx, sy, sz) a unit area vector (ax, ay, az) becomes (ax·sy·sz, ay·sx·sz, az·sx·sy) and the
/// code's area is the sum of the lengths: exactly how their table is scaled.
///
/// Two choices are not fixed by geometry; these are the rules their table follows (found on a Python
/// prototype of this derivation, which matched `create_table_neighbour_code_to_surface_area` at 24
/// spacings; this code's 256 areas match theirs entry by entry to 2.1e-16 relative at 9 spacings,
/// isotropic, the reference cases' and others, run in a throwaway script outside the repository):
/// 1. A face with two inside corners on one diagonal and two outside on the other: the corners
///    of the value held by fewer than 4 corners of the cube are cut off one by one (so a code and
///    its complement get the same surface). With 4 inside corners: in MC case 10 (two opposite
///    parallel edges inside) the inside corners are cut off; in case 12 (three inside corners on
///    one face, an "L" with middle corner m, plus the corner antipodal to m) the L that is cut off
///    on its own, with its antipode, is the one whose middle m satisfies, for the face's normal
///    axis k: k = x: m.x = m.y ∨ m.z; k = y: m.y = m.x ∧ ¬m.z; k = z: m.z = m.x ∧ ¬m.y, where the
///    cut-off set is the inside or the outside corners, whichever has such an L (the classic
///    Lorensen table's choice: scikit-image's `marching_cubes(method="lorensen")` gives the same
///    areas for every code with at most 4 inside corners; it has no geometric meaning). In case 13
///    (checkerboard) both choices give the same area.
/// 2. A loop that is not planar (5 or 6 vertices) is split into the triangulation of largest total
///    area in voxel units; that maximum is unique for every loop.
public enum SurfelAreaTable {
    /// The code bit of the neighbourhood voxel at offset (x, y, z), each 0 or 1.
    @inline(__always)
    public static func bit(x: Int, y: Int, z: Int) -> Int { 7 - (4 * x + 2 * y + z) }

    /// Per code, the area vectors of its triangles for a 1 mm voxel, (x, y, z) components.
    public static let unitAreaVectors: [[SIMD3<Double>]] = (0..<256).map(triangleAreaVectors(code:))

    /// The surface area in mm² of each of the 256 codes at `spacingXYZ` (mm along x, y, z); 0 for
    /// codes 0 and 255 (no surface).
    public static func areas(spacingXYZ: [Double]) -> [Double] {
        precondition(spacingXYZ.count == 3, "spacing is (x, y, z)")
        let sx = spacingXYZ[0], sy = spacingXYZ[1], sz = spacingXYZ[2]
        let scale = SIMD3<Double>(sy * sz, sx * sz, sx * sy)
        return unitAreaVectors.map { vectors in
            vectors.reduce(0.0) { sum, v in
                let w = v * scale
                return sum + (w * w).sum().squareRoot()
            }
        }
    }

    /// Points in doubled voxel units: corners have coordinates 0 or 2, edge midpoints one 1.
    typealias Point = SIMD3<Int>

    static func isInside(_ code: Int, _ corner: Point) -> Bool {
        (code >> bit(x: corner.x / 2, y: corner.y / 2, z: corner.z / 2)) & 1 == 1
    }

    static func triangleAreaVectors(code: Int) -> [SIMD3<Double>] {
        if code == 0 || code == 255 { return [] }
        let separated = separatedValue(code: code)
        var segments = [(Point, Point)]()
        for axis in 0..<3 {
            let (u, v) = axis == 0 ? (1, 2) : axis == 1 ? (0, 2) : (0, 1)
            for side in [0, 2] {
                // The face's corners in cyclic order; edge i joins corner i and corner i + 1.
                let cycle: [Point] = [(0, 0), (2, 0), (2, 2), (0, 2)].map { a, b in
                    var p = Point(repeating: 0)
                    p[axis] = side
                    p[u] = a
                    p[v] = b
                    return p
                }
                let inside = cycle.map { isInside(code, $0) }
                let cut = (0..<4).filter { inside[$0] != inside[($0 + 1) % 4] }
                let midpoint = { (i: Int) in (cycle[i] &+ cycle[(i + 1) % 4]) / 2 }
                if cut.count == 2 {
                    segments.append((midpoint(cut[0]), midpoint(cut[1])))
                } else if cut.count == 4 {
                    for k in 0..<4 where inside[k] == separated {
                        segments.append((midpoint((k + 3) % 4), midpoint(k)))
                    }
                }
            }
        }
        return loops(segments).flatMap(largestTriangulation)
    }

    /// Which corners (true: inside) an ambiguous face cuts off one by one: rule 1 above.
    static func separatedValue(code: Int) -> Bool {
        let insideCount = code.nonzeroBitCount
        if insideCount != 4 { return insideCount < 4 }
        for value in [true, false] {
            let corners = (0..<8).map { Point(($0 >> 2) & 1, ($0 >> 1) & 1, $0 & 1) &* 2 }
                .filter { isInside(code, $0) == value }
            for axis in 0..<3 {
                for side in [0, 2] {
                    let face = corners.filter { $0[axis] == side }
                    guard face.count == 3 else { continue }
                    // The L's middle is the corner next to both others (one edge, 2 doubled units, away).
                    guard let middle = face.first(where: { m in face.allSatisfy { $0 == m || manhattan($0, m) == 2 } }),
                          let apart = corners.first(where: { $0[axis] != side }),
                          apart == Point(repeating: 2) &- middle else { continue }
                    let m = middle / 2
                    let wanted: Int
                    switch axis {
                    case 0: wanted = m.y | m.z
                    case 1: wanted = m.x & (1 - m.z)
                    default: wanted = m.x & (1 - m.y)
                    }
                    if m[axis] == wanted { return value }
                }
            }
        }
        return true  // cases 10 and 13: cut off the inside corners.
    }

    static func manhattan(_ p: Point, _ q: Point) -> Int {
        abs(p.x - q.x) + abs(p.y - q.y) + abs(p.z - q.z)
    }

    /// Chains segments into closed loops (every edge midpoint ends exactly two segments).
    static func loops(_ segments: [(Point, Point)]) -> [[Point]] {
        var remaining = segments, result = [[Point]]()
        while let (start, next) = remaining.popLast() {
            var loop = [start], current = next
            while current != start {
                guard let i = remaining.firstIndex(where: { $0.0 == current || $0.1 == current }) else {
                    preconditionFailure("open surface loop for a 2x2x2 code")
                }
                let (a, b) = remaining.remove(at: i)
                loop.append(current)
                current = a == current ? b : a
            }
            result.append(loop)
        }
        return result
    }

    /// The area vectors (voxel units) of the triangulation of `loop` with the largest total area,
    /// by the usual interval dynamic programme over the polygon's vertices.
    static func largestTriangulation(_ loop: [Point]) -> [SIMD3<Double>] {
        let n = loop.count
        func areaVector(_ i: Int, _ j: Int, _ k: Int) -> SIMD3<Double> {
            let a = SIMD3<Double>(loop[j] &- loop[i]), b = SIMD3<Double>(loop[k] &- loop[i])
            let cross = SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
            return cross / 8  // doubled units: a cross product is 4× too large, and a triangle is half of it
        }
        func length(_ v: SIMD3<Double>) -> Double { (v * v).sum().squareRoot() }
        var best = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        var split = [[Int]](repeating: [Int](repeating: -1, count: n), count: n)
        for width in 2..<n {
            for i in 0..<(n - width) {
                let j = i + width
                best[i][j] = -1
                for k in (i + 1)..<j {
                    let total = best[i][k] + best[k][j] + length(areaVector(i, k, j))
                    if total > best[i][j] + 1e-12 {
                        best[i][j] = total
                        split[i][j] = k
                    }
                }
            }
        }
        var triangles = [SIMD3<Double>]()
        func collect(_ i: Int, _ j: Int) {
            guard j - i >= 2 else { return }
            let k = split[i][j]
            triangles.append(areaVector(i, k, j))
            collect(i, k)
            collect(k, j)
        }
        collect(0, n - 1)
        return triangles
    }
}
