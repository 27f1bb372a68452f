import Foundation

/// The surface elements (surfels) of one mask with their distances to the other mask's surface, in
/// DeepMind surface-distance's order: ascending by (distance, area), which is how
/// `compute_surface_distances` returns them and what its percentile rule walks.
///
/// Sums are numpy's: `np.sum` is a pairwise sum (`pairwiseSum`) and `np.cumsum` a running one, so
/// the percentile's cumulative area fractions are the same doubles theirs are, and a fraction that
/// lands exactly on the percentile picks the same surfel.
public struct DirectedSurfels: Sendable {
    /// From each surfel to the nearest surfel of the other mask, in mm, ascending; +infinity for
    /// every surfel when the other mask is empty.
    public let distances: [Double]
    /// Each surfel's area in mm², in the order of `distances`.
    public let areas: [Double]
    /// The sum of `areas` (0 for an empty mask).
    public let totalArea: Double

    /// `pairs` in any order: they are sorted here.
    public init(unsorted pairs: [(distance: Double, area: Double)]) {
        let sorted = pairs.sorted { ($0.distance, $0.area) < ($1.distance, $1.area) }
        distances = sorted.map(\.distance)
        areas = sorted.map(\.area)
        totalArea = areas.withUnsafeBufferPointer(Self.pairwiseSum)
    }

    public var count: Int { distances.count }

    /// The area-weighted mean distance, mm (DeepMind's `compute_average_surface_distance`, one
    /// direction): NaN when this mask has no surfels (0 / 0), +infinity when the other has none.
    public var averageDistance: Double {
        let weighted = zip(distances, areas).map { $0 * $1 }
        return weighted.withUnsafeBufferPointer(Self.pairwiseSum) / totalArea
    }

    /// DeepMind's directed robust Hausdorff distance at `percent` (0...100), mm: the distance of the
    /// first surfel whose cumulative area fraction reaches percent / 100 (numpy `searchsorted`,
    /// side left, on cumsum(area) / sum(area); a step function, no interpolation), or the last
    /// surfel's when none does. 100 gives the largest distance unless rounding brings the fraction to
    /// exactly 1 earlier (then theirs stops there too). +infinity when this mask has no surfels.
    public func percentileDistance(_ percent: Double) -> Double {
        guard let last = distances.last else { return .infinity }
        let target = percent / 100
        var cumulative = 0.0
        for i in areas.indices {
            cumulative += areas[i]
            // Fractions never decrease (positive areas, one positive divisor), so the first hit is
            // what a binary search finds.
            if cumulative / totalArea >= target { return distances[i] }
        }
        return last
    }

    /// The area of the surfels within `toleranceMM` of the other surface (distance <= tolerance,
    /// inclusive): a prefix of the sorted surfels.
    public func areaWithin(toleranceMM: Double) -> Double {
        var end = 0, upper = distances.count
        while end < upper {  // first index with distance > tolerance
            let middle = (end + upper) / 2
            if distances[middle] <= toleranceMM { end = middle + 1 } else { upper = middle }
        }
        return areas.withUnsafeBufferPointer { Self.pairwiseSum(UnsafeBufferPointer(rebasing: $0[0..<end])) }
    }

    /// The share of this surface within `toleranceMM` of the other (DeepMind's
    /// `compute_surface_overlap_at_tolerance`, one side): NaN when this mask has no surfels, 0 when
    /// the other has none.
    public func overlap(toleranceMM: Double) -> Double { areaWithin(toleranceMM: toleranceMM) / totalArea }

    /// numpy's float64 `add.reduce` on a contiguous array (`pairwise_sum_DOUBLE`, numpy/core/src/umath/
    /// loops_utils.h): under 8 values a plain loop; up to 128, eight interleaved partial sums
    /// combined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)) and the tail added in order;
    /// above, the two halves (the first a multiple of 8 long) summed the same way and added.
    public static func pairwiseSum(_ values: UnsafeBufferPointer<Double>) -> Double {
        let n = values.count
        guard let base = values.baseAddress else { return 0 }
        if n < 8 {
            var sum = 0.0
            for i in 0..<n { sum += base[i] }
            return sum
        }
        if n <= 128 {
            var r = (base[0], base[1], base[2], base[3], base[4], base[5], base[6], base[7])
            var i = 8
            while i < n - n % 8 {
                r.0 += base[i]; r.1 += base[i + 1]; r.2 += base[i + 2]; r.3 += base[i + 3]
                r.4 += base[i + 4]; r.5 += base[i + 5]; r.6 += base[i + 6]; r.7 += base[i + 7]
                i += 8
            }
            var sum = ((r.0 + r.1) + (r.2 + r.3)) + ((r.4 + r.5) + (r.6 + r.7))
            while i < n {
                sum += base[i]
                i += 1
            }
            return sum
        }
        var half = n / 2
        half -= half % 8
        return pairwiseSum(UnsafeBufferPointer(start: base, count: half))
            + pairwiseSum(UnsafeBufferPointer(start: base + half, count: n - half))
    }
}
