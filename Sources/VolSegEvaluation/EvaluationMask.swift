import Foundation
import VolSegCore

/// One label or region of a label map as a binary mask (1 inside), with its voxel count and the
/// box that holds it: what the overlap and surface metrics are computed on.
public struct EvaluationMask: Sendable {
    /// [nz, ny, nx], x fastest (the label map's grid).
    public let shape: [Int]
    public let voxels: [UInt8]
    public let count: Int
    /// The smallest box holding every voxel of the mask, as [z, y, x] lower bounds (inclusive) and
    /// upper bounds (exclusive); nil for an empty mask.
    public let box: (lower: [Int], upper: [Int])?

    public var isEmpty: Bool { count == 0 }

    /// The voxels of `labels` (a [nz, ny, nx] label map) whose value is one of `values`.
    public init(labels: UnsafePointer<Float>, shape: [Int], values: Set<Int>) {
        precondition(shape.count == 3, "a label map grid is [nz, ny, nx], got \(shape)")
        let nz = shape[0], ny = shape[1], nx = shape[2], plane = ny * nx
        // A table indexed by label value: membership costs one load per voxel.
        let largest = max(0, values.max() ?? 0)
        var member = [UInt8](repeating: 0, count: largest + 1)
        for v in values where v >= 0 { member[v] = 1 }
        let tableSize = Float(member.count)
        var voxels = [UInt8](repeating: 0, count: nz * plane)
        // Per z slice: count and box, merged below (slices are independent work items).
        var sliceCounts = [Int](repeating: 0, count: nz)
        var sliceBoxes = [(y0: Int, y1: Int, x0: Int, x1: Int)](repeating: (Int.max, -1, Int.max, -1), count: nz)
        voxels.withUnsafeMutableBufferPointer { mask in
            sliceCounts.withUnsafeMutableBufferPointer { counts in
                sliceBoxes.withUnsafeMutableBufferPointer { boxes in
                    member.withUnsafeBufferPointer { table in
                        let maskBase = mask.baseAddress!, countBase = counts.baseAddress!, boxBase = boxes.baseAddress!
                        Parallel.forEach(nz) { z in
                            var n = 0, y0 = Int.max, y1 = -1, x0 = Int.max, x1 = -1
                            for y in 0..<ny {
                                let row = z * plane + y * nx
                                var rowCount = 0
                                for x in 0..<nx {
                                    let v = labels[row + x]
                                    // Label values are whole numbers; anything else is no member.
                                    let inside: UInt8 = (v >= 0 && v < tableSize) ? table[Int(v)] : 0
                                    maskBase[row + x] = inside
                                    if inside != 0 {
                                        rowCount += 1
                                        x0 = min(x0, x)
                                        x1 = max(x1, x)
                                    }
                                }
                                if rowCount > 0 {
                                    n += rowCount
                                    y0 = min(y0, y)
                                    y1 = max(y1, y)
                                }
                            }
                            countBase[z] = n
                            boxBase[z] = (y0, y1, x0, x1)
                        }
                    }
                }
            }
        }
        var total = 0, lower = [Int.max, Int.max, Int.max], upper = [-1, -1, -1]
        for z in 0..<nz where sliceCounts[z] > 0 {
            total += sliceCounts[z]
            let b = sliceBoxes[z]
            lower = [min(lower[0], z), min(lower[1], b.y0), min(lower[2], b.x0)]
            upper = [max(upper[0], z + 1), max(upper[1], b.y1 + 1), max(upper[2], b.x1 + 1)]
        }
        self.shape = shape
        self.voxels = voxels
        self.count = total
        self.box = total > 0 ? (lower, upper) : nil
    }

    /// The box holding both masks (nil when both are empty).
    static func unionBox(_ a: EvaluationMask, _ b: EvaluationMask) -> (lower: [Int], upper: [Int])? {
        switch (a.box, b.box) {
        case (nil, nil): return nil
        case (let box?, nil), (nil, let box?): return box
        case (let p?, let q?):
            return ((0..<3).map { min(p.lower[$0], q.lower[$0]) }, (0..<3).map { max(p.upper[$0], q.upper[$0]) })
        }
    }

    /// Voxels inside and outside each of two masks: (both, only prediction, only reference).
    public static func overlap(prediction: EvaluationMask, reference: EvaluationMask) -> (tp: Int, fp: Int, fn: Int) {
        precondition(prediction.shape == reference.shape, "masks on different grids")
        let total = prediction.voxels.count
        let chunks = max(1, min(64, total / 65_536))
        var partial = [(Int, Int, Int)](repeating: (0, 0, 0), count: chunks)
        prediction.voxels.withUnsafeBufferPointer { p in
            reference.voxels.withUnsafeBufferPointer { r in
                partial.withUnsafeMutableBufferPointer { out in
                    let pb = p.baseAddress!, rb = r.baseAddress!, ob = out.baseAddress!
                    let size = (total + chunks - 1) / chunks
                    Parallel.forEach(chunks) { c in
                        var both = 0, onlyP = 0, onlyR = 0
                        for i in (c * size)..<min(total, (c + 1) * size) {
                            let a = Int(pb[i]), b = Int(rb[i])
                            both += a & b
                            onlyP += a & (1 - b)
                            onlyR += (1 - a) & b
                        }
                        ob[c] = (both, onlyP, onlyR)
                    }
                }
            }
        }
        return partial.reduce((0, 0, 0)) { ($0.0 + $1.0, $0.1 + $1.1, $0.2 + $1.2) }
    }
}
