import Foundation
import VolSegCore
import VolSegIO

/// Synthetic datasets for tests and demos, written in a real layout so that every reader and
/// command runs on them unchanged: BraTS 2021 (brain-like ellipsoids, a three-part tumour with
/// labels 1, 2, 4, four MRI contrasts) or LiTS (abdomen-like CT in HU with a liver, label 1, and
/// lesions, label 2). The same seed gives the same files, bit for bit.
public enum SyntheticDataset {
    public enum Kind: String, CaseIterable, Sendable { case brats, lits }

    /// One generated case: channels [C, D, H, W], labels [1, D, H, W], and its grid.
    public struct Case: @unchecked Sendable {
        public let channels: Tensor
        public let labels: Tensor
        public let header: NIfTIHeader
    }

    /// (nx, ny, nz): small enough for fast tests.
    public static func defaultSize(_ kind: Kind) -> [Int] {
        kind == .brats ? [64, 64, 64] : [64, 64, 48]
    }

    /// Case `index` of a dataset with `seed`; cases are independent of how many are written.
    public static func makeCase(_ kind: Kind, index: Int, seed: UInt64, size: [Int]) -> Case {
        let caseSeed = SyntheticRNG.mix(seed ^ SyntheticRNG.mix(UInt64(index) &+ (kind == .brats ? 0x42 : 0x4C)))
        switch kind {
        case .brats: return SyntheticBraTSCase.make(seed: caseSeed, size: size)
        case .lits: return SyntheticLiTSCase.make(seed: caseSeed, size: size)
        }
    }

    /// Writes `cases` cases into `folder` (created if needed) and returns the written files.
    @discardableResult
    public static func write(_ kind: Kind, cases: Int, to folder: URL, seed: UInt64, size: [Int]? = nil) throws -> [URL] {
        let size = size ?? defaultSize(kind)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var written = [URL]()
        for index in 0..<cases {
            let item = makeCase(kind, index: index, seed: seed, size: size)
            switch kind {
            case .brats:
                let id = String(format: "BraTS2021_%05d", index)
                let caseFolder = folder.appendingPathComponent(id)
                try FileManager.default.createDirectory(at: caseFolder, withIntermediateDirectories: true)
                for (c, suffix) in ["t1", "t1ce", "t2", "flair"].enumerated() {
                    let url = caseFolder.appendingPathComponent("\(id)_\(suffix).nii.gz")
                    try NIfTIWriter.writeFloatMap(item.channels.slice(axis: 0, c..<(c + 1)), like: item.header, to: url)
                    written.append(url)
                }
                let label = caseFolder.appendingPathComponent("\(id)_seg.nii.gz")
                try NIfTIWriter.writeLabelMap(item.labels, like: item.header, to: label)
                written.append(label)
            case .lits:
                let volume = folder.appendingPathComponent("volume-\(index).nii")
                let label = folder.appendingPathComponent("segmentation-\(index).nii")
                try NIfTIWriter.writeFloatMap(item.channels, like: item.header, to: volume)
                try NIfTIWriter.writeLabelMap(item.labels, like: item.header, to: label)
                written += [volume, label]
            }
        }
        return written
    }
}

/// Helpers shared by the two phantoms.
enum Phantom {
    /// (p - centre) / radius, summed in squares: < 1 inside the ellipsoid.
    @inline(__always)
    static func ellipsoid(_ p: SIMD3<Double>, centre: SIMD3<Double>, radii: SIMD3<Double>) -> Double {
        let d = (p - centre) / radii
        return (d * d).sum()
    }

    /// Fills [C, D, H, W] channels and [1, D, H, W] labels slice by slice in parallel; `voxel`
    /// returns the label and writes the C channel values of one voxel position.
    static func fill(size: [Int], channels: Int,
                     _ voxel: @escaping @Sendable (SIMD3<Double>, Int, UnsafeMutablePointer<Float>) -> Float)
        -> (Tensor, Tensor)
    {
        let (nx, ny, nz) = (size[0], size[1], size[2])
        let images = Tensor.empty([channels, nz, ny, nx]), labels = Tensor.empty([1, nz, ny, nx])
        let img = images.data, lab = labels.data
        let volume = nx * ny * nz
        Parallel.forEach(nz) { z in
            var values = [Float](repeating: 0, count: channels)
            values.withUnsafeMutableBufferPointer { buffer in
                for y in 0..<ny {
                    for x in 0..<nx {
                        let index = (z * ny + y) * nx + x
                        lab[index] = voxel(SIMD3(Double(x), Double(y), Double(z)), index, buffer.baseAddress!)
                        for c in 0..<channels { img[c * volume + index] = buffer[c] }
                    }
                }
            }
        }
        return (images, labels)
    }
}
