import Foundation
import VolSegCore

/// Surface distances as DeepMind's surface-distance package defines them (`surface_distance.metrics`:
/// `compute_surface_distances` and the metrics built on it), reimplemented:
///
/// - surfaces live on the voxel CORNER grid: a corner is on a mask's surface when the 2x2x2 voxels
///   around it are neither all outside nor all inside (voxels off the grid count as outside), and it
///   carries the marching-cubes area of that neighbourhood code (`SurfelAreaTable`);
/// - a surfel's distance is the exact Euclidean distance in mm from its corner to the nearest
///   surface corner of the other mask (distance transform with the voxel spacing);
/// - every metric weights surfels by area.
///
/// Unlike MedPy's voxel-edge convention (`SurfaceDistances`), where the surface is the mask's outer
/// layer of voxel centres and every surface voxel counts once, these surfels lie half a voxel out,
/// between inside and outside voxels, and count by area.
///
/// Only the corners of the box holding both masks, plus one more layer on its upper side, can be on
/// a surface (DeepMind crops to the same box padded by one voxel), so that is the grid transformed.
///
/// Empty masks, as DeepMind's numpy<2 code returns them (Tests/References/evaluation/surface.json):
/// both empty: robust Hausdorff +infinity, every average distance, overlap and surface Dice NaN;
/// one empty: robust Hausdorff +infinity, the non-empty side's average distance +infinity and its
/// overlap 0, the empty side's average distance and overlap NaN, surface Dice 0.
public struct SurfaceElements: Sendable {
    /// The reference's surfels, with distances to the prediction's surface (DeepMind's
    /// `distances_gt_to_pred`, `surfel_areas_gt`).
    public let referenceToPrediction: DirectedSurfels
    /// The prediction's surfels, with distances to the reference's surface.
    public let predictionToReference: DirectedSurfels

    public init(referenceToPrediction: DirectedSurfels, predictionToReference: DirectedSurfels) {
        self.referenceToPrediction = referenceToPrediction
        self.predictionToReference = predictionToReference
    }

    /// `spacingXYZ`: the voxel size in mm along x, y, z (the masks are [nz, ny, nx], x fastest).
    public init(prediction: EvaluationMask, reference: EvaluationMask, spacingXYZ: [Double]) {
        precondition(prediction.shape == reference.shape, "masks on different grids")
        precondition(spacingXYZ.count == 3, "spacing is (x, y, z)")
        guard let box = EvaluationMask.unionBox(prediction, reference) else {
            self.init(referenceToPrediction: DirectedSurfels(unsorted: []),
                      predictionToReference: DirectedSurfels(unsorted: []))
            return
        }
        let corners = (0..<3).map { box.upper[$0] - box.lower[$0] + 1 }
        let referenceCodes = Self.surfaceCodes(of: reference, box: box)
        let predictionCodes = Self.surfaceCodes(of: prediction, box: box)
        let areaOfCode = SurfelAreaTable.areas(spacingXYZ: spacingXYZ)
        var squared = [Double](repeating: 0, count: corners.reduce(1, *))
        func surfels(of source: [UInt8], nearest target: [UInt8], targetIsEmpty: Bool) -> DirectedSurfels {
            squared.withUnsafeMutableBufferPointer { out in
                if targetIsEmpty {
                    out.update(repeating: .infinity)  // no surface to reach (DeepMind: np.Inf everywhere)
                } else {
                    target.withUnsafeBufferPointer {
                        DistanceTransform.squaredDistances(toFeatures: $0.baseAddress!, shape: corners,
                                                           spacingXYZ: spacingXYZ, into: out.baseAddress!)
                    }
                }
            }
            return DirectedSurfels(unsorted: Self.gather(source, squared: squared, areaOfCode: areaOfCode,
                                                         planes: corners[0]))
        }
        self.init(referenceToPrediction: surfels(of: referenceCodes, nearest: predictionCodes,
                                                 targetIsEmpty: prediction.isEmpty),
                  predictionToReference: surfels(of: predictionCodes, nearest: referenceCodes,
                                                 targetIsEmpty: reference.isEmpty))
    }

    /// For each corner of the box's corner grid ([bz + 1, by + 1, bx + 1]; corner (k, j, i) sits
    /// between voxels box.lower + (k − 1, j − 1, i − 1) and box.lower + (k, j, i)), its neighbourhood
    /// code when the corner is on the surface, else 0 (codes 0 and 255 are no surface).
    static func surfaceCodes(of mask: EvaluationMask, box: (lower: [Int], upper: [Int])) -> [UInt8] {
        let ny = mask.shape[1], nx = mask.shape[2]
        let bz = box.upper[0] - box.lower[0], by = box.upper[1] - box.lower[1], bx = box.upper[2] - box.lower[2]
        let cz = bz + 1, cy = by + 1, cx = bx + 1
        // The box with one layer of outside voxels on every side: corner (k, j, i) reads padded voxels
        // (k + c, j + b, i + a) for a, b, c in {0, 1}, with no bounds checks.
        let pz = bz + 2, py = by + 2, px = bx + 2
        var padded = [UInt8](repeating: 0, count: pz * py * px)
        mask.voxels.withUnsafeBufferPointer { voxels in
            padded.withUnsafeMutableBufferPointer { out in
                let source = voxels.baseAddress!, target = out.baseAddress!
                Parallel.forEach(bz) { k in
                    for j in 0..<by {
                        let from = source + ((box.lower[0] + k) * ny + box.lower[1] + j) * nx + box.lower[2]
                        let to = target + ((k + 1) * py + j + 1) * px + 1
                        for i in 0..<bx { to[i] = from[i] }
                    }
                }
            }
        }
        var codes = [UInt8](repeating: 0, count: cz * cy * cx)
        padded.withUnsafeBufferPointer { voxels in
            codes.withUnsafeMutableBufferPointer { out in
                let v = voxels.baseAddress!, o = out.baseAddress!
                Parallel.forEach(cz) { k in
                    for j in 0..<cy {
                        // The four voxels of one x column: (z, y) = (k, j), (k + 1, j), (k, j + 1),
                        // (k + 1, j + 1) are bits 3, 2, 1, 0 of a nibble (bit 7 − (4a + 2b + c) with
                        // c the z and b the y offset); the code is nibble(i) << 4 | nibble(i + 1).
                        let r00 = v + (k * py + j) * px, r10 = v + ((k + 1) * py + j) * px
                        let r01 = v + (k * py + j + 1) * px, r11 = v + ((k + 1) * py + j + 1) * px
                        func nibble(_ x: Int) -> Int {
                            Int(r00[x]) << 3 | Int(r10[x]) << 2 | Int(r01[x]) << 1 | Int(r11[x])
                        }
                        let row = o + (k * cy + j) * cx
                        var left = nibble(0)
                        for i in 0..<cx {
                            let right = nibble(i + 1)
                            let code = left << 4 | right
                            row[i] = (code == 0 || code == 255) ? 0 : UInt8(code)
                            left = right
                        }
                    }
                }
            }
        }
        return codes
    }

    /// (distance, area) of every surface corner of `codes`, plane by plane in parallel.
    static func gather(_ codes: [UInt8], squared: [Double], areaOfCode: [Double],
                       planes: Int) -> [(distance: Double, area: Double)] {
        let planeSize = codes.count / max(planes, 1)
        var counts = [Int](repeating: 0, count: planes)
        codes.withUnsafeBufferPointer { c in
            counts.withUnsafeMutableBufferPointer { n in
                let cb = c.baseAddress!, nb = n.baseAddress!
                Parallel.forEach(planes) { k in
                    var found = 0
                    for i in (k * planeSize)..<((k + 1) * planeSize) where cb[i] != 0 { found += 1 }
                    nb[k] = found
                }
            }
        }
        var starts = [Int](repeating: 0, count: planes + 1)
        for k in 0..<planes { starts[k + 1] = starts[k] + counts[k] }
        var pairs = [(distance: Double, area: Double)](repeating: (0, 0), count: starts[planes])
        codes.withUnsafeBufferPointer { c in
            squared.withUnsafeBufferPointer { s in
                areaOfCode.withUnsafeBufferPointer { table in
                    pairs.withUnsafeMutableBufferPointer { out in
                        let cb = c.baseAddress!, sb = s.baseAddress!, tb = table.baseAddress!, ob = out.baseAddress!
                        Parallel.forEach(planes) { k in
                            var next = starts[k]
                            for i in (k * planeSize)..<((k + 1) * planeSize) where cb[i] != 0 {
                                ob[next] = (sb[i].squareRoot(), tb[Int(cb[i])])
                                next += 1
                            }
                        }
                    }
                }
            }
        }
        return pairs
    }
}

// The metrics of `surface_distance.metrics`, named as there, each as one expression of both directions.
extension SurfaceElements {
    /// `compute_robust_hausdorff(sd, percent)`: the larger of the two directed area-weighted
    /// percentiles (`DirectedSurfels.percentileDistance`), mm; percent 100 is the Hausdorff distance.
    /// +infinity when either mask is empty.
    public func robustHausdorff(percent: Double) -> Double {
        max(referenceToPrediction.percentileDistance(percent), predictionToReference.percentileDistance(percent))
    }

    /// `compute_average_surface_distance(sd)`: the area-weighted mean distance each way, mm (their
    /// tuple order is reference first). No symmetric combination is defined there.
    public var averageSurfaceDistances: (referenceToPrediction: Double, predictionToReference: Double) {
        (referenceToPrediction.averageDistance, predictionToReference.averageDistance)
    }

    /// `compute_surface_overlap_at_tolerance(sd, tolerance)`: the share of each surface within the
    /// tolerance of the other (distance <= tolerance).
    public func surfaceOverlap(toleranceMM: Double) -> (reference: Double, prediction: Double) {
        (referenceToPrediction.overlap(toleranceMM: toleranceMM), predictionToReference.overlap(toleranceMM: toleranceMM))
    }

    /// `compute_surface_dice_at_tolerance(sd, tolerance)`, the normalised surface Dice (NSD): the area
    /// of both surfaces within the tolerance of the other over the area of both. NaN when both masks
    /// are empty, 0 when one is.
    public func surfaceDice(toleranceMM: Double) -> Double {
        (referenceToPrediction.areaWithin(toleranceMM: toleranceMM)
            + predictionToReference.areaWithin(toleranceMM: toleranceMM))
            / (referenceToPrediction.totalArea + predictionToReference.totalArea)
    }
}
