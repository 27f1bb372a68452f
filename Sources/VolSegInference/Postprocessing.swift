import Foundation
import VolSegCore

/// Post-processing of a label map after inference; `volseg segment --postprocess NAME`.
public enum Postprocessing: String, CaseIterable, Sendable {
    /// Liver CT: `LiTSPostprocessing` with the LiTS labels (1 liver, 2 tumour).
    case lits
    /// nnU-Net's own choice for an nnU-Net model folder: its `postprocessing.pkl`, read and
    /// applied by VolSegNNUNet's `NNUNetPostprocessing` (a VolSeg checkpoint has none).
    case nnunet

    public func apply(_ labels: Tensor) -> Tensor {
        switch self {
        case .lits: return LiTSPostprocessing().apply(labels)
        case .nnunet: preconditionFailure("--postprocess nnunet comes from a model folder's postprocessing.pkl (NNUNetPostprocessing)")
        }
    }
}

/// The standard clean-up of a liver segmentation (nnU-Net's "largest component" step, and what
/// LiTS entries did): a body has one liver, so only the largest connected component of the liver
/// region (liver and tumour labels together) is kept; cavities enclosed by it (vessels, lesions the
/// network called background) are filled with liver; tumour outside the kept liver is removed.
/// Labels inside the kept liver are left as predicted.
public struct LiTSPostprocessing: Sendable {
    /// The labels that make up the liver region (liver and its tumours).
    public var liverLabels: Set<Int>
    /// The value written into filled cavities.
    public var liverLabel: Int
    /// How liver voxels connect. Cavities are found with face connectivity, scipy's
    /// `binary_fill_holes` default: background touching only by an edge is still enclosed.
    public var connectivity: Connectivity

    public init(liverLabels: Set<Int> = [1, 2], liverLabel: Int = 1, connectivity: Connectivity = .faces) {
        self.liverLabels = liverLabels
        self.liverLabel = liverLabel
        self.connectivity = connectivity
    }

    /// [1, D, H, W] or [D, H, W] label values -> the same shape, cleaned.
    public func apply(_ labels: Tensor) -> Tensor {
        precondition(labels.rank == 3 || (labels.rank == 4 && labels.shape[0] == 1), "a label map is [1, D, H, W], got \(labels.shape)")
        let shape = Array(labels.shape.suffix(3)), total = shape.reduce(1, *)
        let planned = labels.isPlanned
        let mask = ScratchBuffer<UInt8>(count: total, planned: planned)
        let out = Tensor.empty(labels.shape, planned: planned)
        guard let m = mask.pointer else {
            // Planning: the liver's component table, then the cavity search's mask and table for
            // the largest box it can take (the whole grid): an upper bound of a real run.
            let liver = ConnectedComponents(mask: nil, shape: shape, connectivity: connectivity)
            let box = ScratchBuffer<UInt8>(count: total, planned: true)
            let background = ConnectedComponents(mask: nil, shape: shape, connectivity: .faces)
            withExtendedLifetime((liver, box, background)) {}
            return out
        }
        let src = UnsafePointer(labels.data), dst = out.data
        // A lookup by value: hashing a Set for each of 100 million voxels costs seconds.
        var isLiverTable = [Bool](repeating: false, count: (liverLabels.max() ?? 0) + 1)
        for l in liverLabels where l >= 0 { isLiverTable[l] = true }
        let table = isLiverTable
        func isLiver(_ v: Float) -> Bool { v >= 0 && v < Float(table.count) && table[Int(v)] }
        Parallel.forEachChunk(total, minimumChunk: 1 << 16) { range in
            for i in range { m[i] = isLiver(src[i]) ? 1 : 0 }
        }
        let liver = ConnectedComponents(mask: m, shape: shape, connectivity: connectivity)
        guard let largest = liver.sizes.indices.max(by: { liver.sizes[$0] < liver.sizes[$1] }) else {
            dst.update(from: src, count: total)   // no liver at all: nothing to clean
            return out
        }
        // Mask 1 = the kept liver; its bounding box bounds the search for cavities.
        let component = liver.table.pointer!
        var lower = shape, upper = [-1, -1, -1]
        let (nh, nw) = (shape[1], shape[2])
        for i in 0..<total {
            let kept = component[i] == Int32(largest)
            m[i] = kept ? 1 : 0
            if kept {
                let z = i / (nh * nw), y = (i / nw) % nh, x = i % nw
                lower = [min(lower[0], z), min(lower[1], y), min(lower[2], x)]
                upper = [max(upper[0], z), max(upper[1], y), max(upper[2], x)]
            }
        }
        markCavities(in: m, shape: shape, lower: lower, upper: upper)
        let fill = Float(liverLabel)
        Parallel.forEachChunk(total, minimumChunk: 1 << 16) { range in
            for i in range {
                switch m[i] {
                case 1: dst[i] = src[i]
                case 2: dst[i] = isLiver(src[i]) ? src[i] : fill
                default: dst[i] = 0
                }
            }
        }
        return out
    }

    /// Sets `mask` to 2 on voxels outside the kept liver (mask 0) that cannot reach the border of
    /// its bounding box through other such voxels (face neighbours). Outside the box everything is
    /// background that reaches the volume's border, so "enclosed in the box" is "enclosed".
    func markCavities(in kept: UnsafeMutablePointer<UInt8>, shape: [Int], lower: [Int], upper: [Int]) {
        let box = (0..<3).map { upper[$0] - lower[$0] + 1 }
        let boxTotal = box.reduce(1, *)
        let background = ScratchBuffer<UInt8>(count: boxTotal, planned: false)
        let b = background.pointer!
        let (nh, nw) = (shape[1], shape[2])
        func fullIndex(_ z: Int, _ y: Int, _ x: Int) -> Int { ((z + lower[0]) * nh + y + lower[1]) * nw + x + lower[2] }
        for z in 0..<box[0] {
            for y in 0..<box[1] {
                for x in 0..<box[2] { b[(z * box[1] + y) * box[2] + x] = kept[fullIndex(z, y, x)] == 0 ? 1 : 0 }
            }
        }
        let components = ConnectedComponents(mask: b, shape: box, connectivity: .faces)
        var reachesBorder = [Bool](repeating: false, count: components.count)
        for z in 0..<box[0] {
            for y in 0..<box[1] {
                for x in 0..<box[2] where z == 0 || y == 0 || x == 0 || z == box[0] - 1 || y == box[1] - 1 || x == box[2] - 1 {
                    if let c = components.component(at: (z * box[1] + y) * box[2] + x) { reachesBorder[c] = true }
                }
            }
        }
        for z in 0..<box[0] {
            for y in 0..<box[1] {
                for x in 0..<box[2] {
                    if let c = components.component(at: (z * box[1] + y) * box[2] + x), !reachesBorder[c] {
                        kept[fullIndex(z, y, x)] = 2
                    }
                }
            }
        }
    }
}
