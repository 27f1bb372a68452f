import Foundation
import VolSegIO

/// A brain-like phantom in the BraTS 2021 layout: a skull-stripped ellipsoidal brain (white matter
/// inside grey matter, two ventricles), a tumour made of a necrotic core (label 1) inside an
/// enhancing rim (label 4) inside oedema (label 2), and four contrasts with the tissue contrasts
/// radiologists read: the rim lights up on T1ce, oedema on FLAIR and T2, CSF is dark on FLAIR.
enum SyntheticBraTSCase {
    /// Relative intensity of (background, WM, GM, CSF, oedema, enhancing, necrosis) per contrast,
    /// in the channel order T1, T1ce, T2, FLAIR.
    static let contrast: [[Float]] = [
        [0, 0.90, 0.70, 0.30, 0.55, 0.60, 0.35],
        [0, 0.90, 0.70, 0.30, 0.55, 1.40, 0.30],
        [0, 0.50, 0.70, 1.40, 1.10, 0.90, 1.30],
        [0, 0.60, 0.75, 0.20, 1.30, 1.00, 0.70],
    ]

    static func make(seed: UInt64, size: [Int]) -> SyntheticDataset.Case {
        var rng = SyntheticRNG(seed: seed)
        let n = SIMD3(Double(size[0]), Double(size[1]), Double(size[2]))
        let centre = (n - 1) / 2
        let brain = n * SIMD3(0.40, 0.45, 0.40) * SIMD3(rng.uniform(0.95, 1.05), rng.uniform(0.95, 1.05), rng.uniform(0.95, 1.05))
        let ventricleOffset = SIMD3(0.10 * n.x, 0, 0.05 * n.z)
        let ventricle = n * SIMD3(0.04, 0.14, 0.07)
        // The tumour sits in one hemisphere, about half way out.
        let side: Double = rng.uniform(0, 1) < 0.5 ? -1 : 1
        let tumourCentre = centre + brain * SIMD3(side * rng.uniform(0.35, 0.5), rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3))
        let unit = min(n.x, min(n.y, n.z))
        let necrosis = unit * rng.uniform(0.05, 0.08)
        let enhancing = necrosis + unit * rng.uniform(0.04, 0.06)
        let oedema = SIMD3(rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)) * (enhancing + unit * rng.uniform(0.08, 0.14))
        let gains = (0..<4).map { _ in Float(rng.uniform(400, 600)) }
        let biasPhase = SIMD3(rng.uniform(0, 6.28), rng.uniform(0, 6.28), rng.uniform(0, 6.28))
        let noiseSeed = rng.next()

        let (channels, labels) = Phantom.fill(size: size, channels: 4) { p, index, out in
            var tissue = 0, label: Float = 0
            if Phantom.ellipsoid(p, centre: centre, radii: brain) < 1 {
                tissue = Phantom.ellipsoid(p, centre: centre, radii: brain * 0.7) < 1 ? 1 : 2
                if Phantom.ellipsoid(p, centre: centre - ventricleOffset, radii: ventricle) < 1
                    || Phantom.ellipsoid(p, centre: centre + ventricleOffset, radii: ventricle) < 1 { tissue = 3 }
                let r = ((p - tumourCentre) * (p - tumourCentre)).sum().squareRoot()
                if r < necrosis { tissue = 6; label = 1 }
                else if r < enhancing { tissue = 5; label = 4 }
                else if Phantom.ellipsoid(p, centre: tumourCentre, radii: oedema) < 1 { tissue = 4; label = 2 }
            }
            if tissue == 0 {
                for c in 0..<4 { out[c] = 0 }
                return 0
            }
            // A smooth multiplicative bias field (coil sensitivity) and 3% Gaussian noise.
            let q = p / n * 3.0 + biasPhase
            let bias = Float(1 + 0.08 * sin(q.x) * cos(q.y) + 0.04 * sin(q.z))
            for c in 0..<4 {
                let noise = 0.03 * SyntheticRNG.gaussian(seed: noiseSeed &+ UInt64(c), index: index)
                out[c] = max(0, gains[c] * bias * (contrast[c][tissue] + noise))
            }
            return label
        }
        // BraTS 2021 files: 1 mm voxels, x and y pointing left and posterior (LPS-like storage).
        var affine = NIfTIAffine.identity
        affine[0, 0] = -1; affine[1, 1] = -1
        affine[1, 3] = Double(size[1] - 1)
        let header = NIfTIHeader(spatialShape: size, affine: affine, description: "VolSeg synthetic BraTS phantom")
        return SyntheticDataset.Case(channels: channels, labels: labels, header: header)
    }
}
