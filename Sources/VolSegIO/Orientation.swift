import Foundation

/// Which world axis each voxel axis follows most closely, and in which direction: nibabel's
/// `io_orientation`, so that VolSeg and nibabel name the same axes (`aff2axcodes`).
///
/// The rotation part of the affine is first freed of zooms and shear (polar decomposition, the
/// closest rotation), then voxel axes are matched to world axes from the most clearly aligned one
/// down, each world axis used once. For oblique scans this picks the nearest canonical axes; the
/// voxel grid itself is never resampled.
public struct Orientation: Equatable, Sendable {
    /// For voxel axis i, j, k (0, 1, 2): the world axis it follows (0 = R-L, 1 = A-P, 2 = S-I).
    public let worldAxis: [Int]
    /// +1 when the voxel index grows towards R, A or S; -1 towards L, P or I.
    public let direction: [Int]

    public init(worldAxis: [Int], direction: [Int]) {
        precondition(Set(worldAxis) == [0, 1, 2] && direction.allSatisfy { $0 == 1 || $0 == -1 })
        self.worldAxis = worldAxis
        self.direction = direction
    }

    public init(affine: NIfTIAffine) {
        var rs = (0..<3).map { r in (0..<3).map { c in affine[r, c] } }
        for c in 0..<3 {
            var norm = (0..<3).reduce(0.0) { $0 + rs[$1][c] * rs[$1][c] }.squareRoot()
            if norm == 0 { norm = 1 }
            for r in 0..<3 { rs[r][c] /= norm }
        }
        var rotation = Orientation.closestRotation(rs)
        // Strongest-aligned voxel axes first (stable on ties), as nibabel does.
        let strength = (0..<3).map { c in (0..<3).map { rotation[$0][c] * rotation[$0][c] }.max()! }
        let order = (0..<3).sorted { strength[$0] > strength[$1] || (strength[$0] == strength[$1] && $0 < $1) }
        var world = [Int](repeating: -1, count: 3), sign = [Int](repeating: 1, count: 3)
        for voxelAxis in order {
            let column = (0..<3).map { rotation[$0][voxelAxis] }
            guard column.contains(where: { abs($0) > 1e-8 }) else { continue }
            var best = 0
            for r in 1..<3 where abs(column[r]) > abs(column[best]) { best = r }
            world[voxelAxis] = best
            sign[voxelAxis] = column[best] < 0 ? -1 : 1
            for c in 0..<3 { rotation[best][c] = 0 }
        }
        // A degenerate affine (a zero column) leaves an axis unmatched: give it a free world axis.
        for voxelAxis in 0..<3 where world[voxelAxis] < 0 {
            world[voxelAxis] = (0..<3).first { !world.contains($0) }!
        }
        self.init(worldAxis: world, direction: sign)
    }

    /// Axis codes like nibabel's `aff2axcodes`: ("L", "S", "A") for itk_head_t1.
    public var axisCodes: [String] {
        let positive = ["R", "A", "S"], negative = ["L", "P", "I"]
        return (0..<3).map { direction[$0] > 0 ? positive[worldAxis[$0]] : negative[worldAxis[$0]] }
    }

    /// True when the voxel axes already are R, A, S in order.
    public var isCanonical: Bool { worldAxis == [0, 1, 2] && direction == [1, 1, 1] }

    /// The rotation nearest to `m` (polar decomposition by Newton's iteration X <- (X + X^-T) / 2,
    /// which converges quadratically for a non-singular matrix). A singular matrix is returned as is.
    static func closestRotation(_ m: [[Double]]) -> [[Double]] {
        var x = m
        for _ in 0..<100 {
            guard let inverse = inverse3(x) else { return m }
            var next = x, change = 0.0
            for r in 0..<3 {
                for c in 0..<3 {
                    next[r][c] = 0.5 * (x[r][c] + inverse[c][r])
                    change = max(change, abs(next[r][c] - x[r][c]))
                }
            }
            x = next
            if change < 1e-15 { break }
        }
        return x
    }

    static func inverse3(_ m: [[Double]]) -> [[Double]]? {
        let c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1]
        let c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2]
        let c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0]
        let det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02
        let scale = m.flatMap { $0 }.map(abs).max() ?? 0
        guard abs(det) > 1e-12 * max(scale * scale * scale, 1e-300) else { return nil }
        return [
            [c00 / det, (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det, (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det],
            [c01 / det, (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det, (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det],
            [c02 / det, (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det, (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det],
        ]
    }
}
