import Foundation
import VolSegIO

/// An abdomen-like CT phantom in Hounsfield units, in the LiTS layout: air around an elliptic body
/// with a subcutaneous fat layer, soft tissue, a vertebra, a contrast-enhanced liver (label 1) on
/// the patient's right and one to three hypodense lesions inside it (label 2).
enum SyntheticLiTSCase {
    /// Voxel size (x, y, z) in mm: thick slices, as in most LiTS volumes.
    static let spacing = SIMD3(0.8, 0.8, 2.5)

    static func make(seed: UInt64, size: [Int]) -> SyntheticDataset.Case {
        var rng = SyntheticRNG(seed: seed)
        let n = SIMD3(Double(size[0]), Double(size[1]), Double(size[2]))
        let centre = (n - 1) / 2
        let body = SIMD3(0.46 * n.x, 0.36 * n.y, 1e9) * rng.uniform(0.95, 1.02)
        let spine = SIMD3(centre.x, centre.y - 0.24 * n.y, 0)
        let spineRadius = 0.06 * n.x
        // RAS: x grows to the patient's left, so the liver sits at smaller x.
        let liverCentre = centre + SIMD3(-0.17 * n.x, 0.05 * n.y, rng.uniform(-0.05, 0.05) * n.z)
        let liver = SIMD3(0.20 * n.x, 0.22 * n.y, 0.30 * n.z) * SIMD3(rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1))
        let lesionCount = Int(rng.uniform(1, 4))
        let lesions: [(SIMD3<Double>, Double)] = (0..<lesionCount).map { _ in
            let offset = SIMD3(rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(-0.4, 0.4)) * liver
            return (liverCentre + offset, rng.uniform(0.04, 0.08) * n.x)
        }
        let liverHU = Float(rng.uniform(90, 120)), lesionHU = Float(rng.uniform(20, 50))
        let noiseSeed = rng.next()
        // Lesion radii are in-plane voxels; z voxels are thicker, so scale z distances.
        let anisotropy = SIMD3(1, 1, spacing.z / spacing.x)

        let (channels, labels) = Phantom.fill(size: size, channels: 1) { p, index, out in
            var hu: Float = -1000, label: Float = 0
            let inBody = Phantom.ellipsoid(SIMD3(p.x, p.y, 0), centre: SIMD3(centre.x, centre.y, 0), radii: body)
            if inBody < 1 {
                hu = inBody > 0.8 ? -100 : 40
                let s = SIMD3(p.x, p.y, 0) - spine
                if (s * s).sum() < spineRadius * spineRadius { hu = 600 }
                if Phantom.ellipsoid(p, centre: liverCentre, radii: liver) < 1 {
                    hu = liverHU; label = 1
                    for (lesionCentre, radius) in lesions {
                        let d = (p - lesionCentre) * anisotropy
                        if (d * d).sum() < radius * radius { hu = lesionHU; label = 2 }
                    }
                }
                hu += 12 * SyntheticRNG.gaussian(seed: noiseSeed, index: index)
            }
            out[0] = min(3071, max(-1024, hu.rounded()))
            return label
        }
        var affine = NIfTIAffine.identity
        for a in 0..<3 {
            affine[a, a] = spacing[a]
            affine[a, 3] = -centre[a] * spacing[a]
        }
        let header = NIfTIHeader(spatialShape: size, affine: affine, description: "VolSeg synthetic LiTS phantom")
        return SyntheticDataset.Case(channels: channels, labels: labels, header: header)
    }
}
