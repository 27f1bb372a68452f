import Foundation
import VolSegCore

/// The distances between the surfaces of a prediction and a reference mask, as MedPy defines them
/// (`medpy.metric.binary.__surface_distances`, used by hd95, asd and assd):
///
/// - a mask's surface is the mask minus its binary erosion with face connectivity (6 neighbours in
///   3D), everything outside the grid counted as background (scipy's `binary_erosion` default
///   `border_value=0`), so a mask voxel on the grid's edge is always on the surface;
/// - the distance from a surface voxel of one mask is the Euclidean distance in mm to the nearest
///   surface voxel of the other (an exact distance transform with the voxel spacing).
///
/// Only the box holding both masks is transformed: every surface voxel lies in it, and the nearest
/// surface voxel of a distance transform with all its features inside a box is found inside it.
public struct SurfaceDistances: Sendable {
    /// From each surface voxel of the prediction to the reference's surface, in mm.
    public let predictionToReference: [Double]
    /// From each surface voxel of the reference to the prediction's surface, in mm.
    public let referenceToPrediction: [Double]

    public init(predictionToReference: [Double], referenceToPrediction: [Double]) {
        self.predictionToReference = predictionToReference
        self.referenceToPrediction = referenceToPrediction
    }

    /// nil when either mask is empty: surface distances are undefined then.
    public init?(prediction: EvaluationMask, reference: EvaluationMask, spacingXYZ: [Double]) {
        precondition(prediction.shape == reference.shape, "masks on different grids")
        guard !prediction.isEmpty, !reference.isEmpty,
              let box = EvaluationMask.unionBox(prediction, reference) else { return nil }
        let predictionSurface = Self.surface(of: prediction, box: box)
        let referenceSurface = Self.surface(of: reference, box: box)
        let boxShape = (0..<3).map { box.upper[$0] - box.lower[$0] }
        var squared = [Double](repeating: 0, count: boxShape.reduce(1, *))
        func distances(from source: [UInt8], to target: [UInt8]) -> [Double] {
            squared.withUnsafeMutableBufferPointer { out in
                target.withUnsafeBufferPointer {
                    DistanceTransform.squaredDistances(toFeatures: $0.baseAddress!, shape: boxShape,
                                                       spacingXYZ: spacingXYZ, into: out.baseAddress!)
                }
            }
            var found = [Double]()
            for i in source.indices where source[i] != 0 { found.append(squared[i].squareRoot()) }
            return found
        }
        predictionToReference = distances(from: predictionSurface, to: referenceSurface)
        referenceToPrediction = distances(from: referenceSurface, to: predictionSurface)
    }

    /// The surface voxels of `mask` inside `box` (which holds the whole mask), as a mask of the box.
    static func surface(of mask: EvaluationMask, box: (lower: [Int], upper: [Int])) -> [UInt8] {
        let nz = mask.shape[0], ny = mask.shape[1], nx = mask.shape[2]
        let bz = box.upper[0] - box.lower[0], by = box.upper[1] - box.lower[1], bx = box.upper[2] - box.lower[2]
        var surface = [UInt8](repeating: 0, count: bz * by * bx)
        mask.voxels.withUnsafeBufferPointer { voxels in
            surface.withUnsafeMutableBufferPointer { out in
                let m = voxels.baseAddress!, s = out.baseAddress!
                // A neighbour outside the grid is background (scipy's border_value=0).
                func at(_ z: Int, _ y: Int, _ x: Int) -> UInt8 {
                    (z < 0 || y < 0 || x < 0 || z >= nz || y >= ny || x >= nx) ? 0 : m[(z * ny + y) * nx + x]
                }
                Parallel.forEach(bz) { k in
                    let z = box.lower[0] + k
                    for j in 0..<by {
                        let y = box.lower[1] + j
                        for i in 0..<bx {
                            let x = box.lower[2] + i
                            guard m[(z * ny + y) * nx + x] != 0 else { continue }
                            let interior = at(z - 1, y, x) & at(z + 1, y, x) & at(z, y - 1, x) & at(z, y + 1, x)
                                & at(z, y, x - 1) & at(z, y, x + 1)
                            s[(k * by + j) * bx + i] = interior == 0 ? 1 : 0
                        }
                    }
                }
            }
        }
        return surface
    }

    /// Every distance of both directions.
    public var pooled: [Double] { predictionToReference + referenceToPrediction }

    /// The 95th percentile of both directions pooled (MedPy's hd95), in mm.
    public var hausdorff95: Double { Self.percentile(pooled, 95) }

    /// The larger of the two directed 95th percentiles (MONAI's `compute_hausdorff_distance` with
    /// percentile 95 and directed=False), in mm.
    public var directedHausdorff95: Double {
        max(Self.percentile(predictionToReference, 95), Self.percentile(referenceToPrediction, 95))
    }

    /// The largest distance of either direction (MedPy's hd), in mm.
    public var hausdorff: Double { max(predictionToReference.max() ?? 0, referenceToPrediction.max() ?? 0) }

    /// The mean of the two directed average surface distances (MedPy <= 0.4's assd, the mean of
    /// MedPy's asd both ways), in mm: VolSeg's ASSD.
    public var averageSymmetricSurfaceDistance: Double {
        (Self.mean(predictionToReference) + Self.mean(referenceToPrediction)) / 2
    }

    /// The mean of all distances of both directions pooled (MedPy 0.5's assd), in mm; it weights
    /// each direction by its surface's size.
    public var pooledAverageSurfaceDistance: Double { Self.mean(pooled) }

    /// The directed average surface distances (MedPy's asd(prediction, reference) and the reverse).
    public var averagePredictionToReference: Double { Self.mean(predictionToReference) }
    public var averageReferenceToPrediction: Double { Self.mean(referenceToPrediction) }

    static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    /// numpy.percentile's default ("linear"): position q/100 · (n − 1) in the sorted values,
    /// interpolated between its neighbours the way numpy's `_lerp` does.
    public static func percentile(_ values: [Double], _ q: Double) -> Double {
        if values.isEmpty { return .nan }
        let sorted = values.sorted()
        let position = (q / 100) * Double(sorted.count - 1)
        let below = Int(position.rounded(.down))
        let above = min(below + 1, sorted.count - 1)
        let t = position - Double(below)
        let a = sorted[below], b = sorted[above], difference = b - a
        return t >= 0.5 ? b - difference * (1 - t) : a + difference * t
    }
}
