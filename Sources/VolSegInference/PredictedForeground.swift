import Foundation

/// Where the source model predicts foreground on each target image (padded grid, [D, H, W]):
/// the voxel list that foreground-centred windows are drawn from, and a summed-volume table so
/// the predicted foreground share of any window costs eight lookups. A source-free adaptation may
/// not read labels; the source model's own segmentation stands in for them.
public struct PredictedForeground {
    /// Per image: flat indices of the predicted foreground voxels.
    public let voxels: [[Int]]
    /// Per image: its padded shape and the inclusive prefix sums over (d, h, w), with a zero
    /// border, so entry (d+1, h+1, w+1) counts foreground in [0...d, 0...h, 0...w].
    let shapes: [[Int]]
    let prefixSums: [[Int32]]

    package init(masks: [[Bool]], shapes: [[Int]]) {
        self.shapes = shapes
        voxels = masks.map { mask in mask.indices.filter { mask[$0] } }
        prefixSums = zip(masks, shapes).map { mask, shape in
            let (d, h, w) = (shape[0], shape[1], shape[2])
            var table = [Int32](repeating: 0, count: (d + 1) * (h + 1) * (w + 1))
            func at(_ z: Int, _ y: Int, _ x: Int) -> Int { (z * (h + 1) + y) * (w + 1) + x }
            for z in 0..<d {
                for y in 0..<h {
                    for x in 0..<w {
                        table[at(z + 1, y + 1, x + 1)] = (mask[(z * h + y) * w + x] ? 1 : 0)
                            + table[at(z, y + 1, x + 1)] + table[at(z + 1, y, x + 1)] + table[at(z + 1, y + 1, x)]
                            - table[at(z, y, x + 1)] - table[at(z, y + 1, x)] - table[at(z + 1, y, x)] + table[at(z, y, x)]
                    }
                }
            }
            return table
        }
    }

    /// The share of the window's voxels predicted as foreground.
    public func share(image: Int, start: [Int], size: [Int]) -> Double {
        let shape = shapes[image], table = prefixSums[image]
        let (h, w) = (shape[1], shape[2])
        let lo = (0..<3).map { min(max(start[$0], 0), shape[$0]) }
        let hi = (0..<3).map { min(max(start[$0] + size[$0], 0), shape[$0]) }
        func at(_ z: Int, _ y: Int, _ x: Int) -> Int { Int(table[(z * (h + 1) + y) * (w + 1) + x]) }
        let count = at(hi[0], hi[1], hi[2]) - at(lo[0], hi[1], hi[2]) - at(hi[0], lo[1], hi[2]) - at(hi[0], hi[1], lo[2])
            + at(lo[0], lo[1], hi[2]) + at(lo[0], hi[1], lo[2]) + at(hi[0], lo[1], lo[2]) - at(lo[0], lo[1], lo[2])
        return Double(count) / Double(max(size.reduce(1, *), 1))
    }
}
