import Foundation
import VolSegCore

/// Where the patches of a batch come from (nnU-Net's sampling): each sample picks a case
/// uniformly, then either a uniformly random position or, for the foreground share of the batch,
/// a position centred on a random voxel of a foreground class present in the case (the class
/// chosen uniformly among those present, so small structures such as tumours are seen as often as
/// large ones). Volumes smaller than the patch are padded: the patch's lower corner then lies
/// before the volume's first voxel.
///
/// Positions are [D, H, W] voxel indices of the case's preprocessed grid.
public struct PatchSampler: Sendable {
    /// [D, H, W].
    public let patchSize: [Int]
    public let batchSize: Int
    public let foregroundShare: Double

    public init(patchSize: [Int], batchSize: Int, foregroundShare: Double) {
        precondition(patchSize.count == 3 && patchSize.allSatisfy { $0 > 0 } && batchSize > 0)
        self.patchSize = patchSize
        self.batchSize = batchSize
        self.foregroundShare = foregroundShare
    }

    /// A chosen patch: which case, the lower corner (may be negative: padding), and the foreground
    /// class it was centred on (nil for a random patch).
    public struct Choice: Equatable, Sendable {
        public let caseIndex: Int
        public let lower: [Int]
        public let foregroundClass: Int?
    }

    /// nnU-Net's rule: the LAST round(batch x share) samples of a batch are foreground-centred, so
    /// every batch holds the same number of them. A batch of one cannot hold a share; there the
    /// sample is foreground-centred with probability `foregroundShare`.
    public func isForegroundSample(_ index: Int, rng: inout RandomGenerator) -> Bool {
        if batchSize == 1 { return Double(rng.nextUniform()) < foregroundShare }
        let random = Int((Double(batchSize) * (1 - foregroundShare)).rounded())
        return index >= random
    }

    /// The patch of sample `index` of a batch.
    public func choose(from cases: [TrainingCase], sampleIndex: Int, rng: inout RandomGenerator) -> Choice {
        precondition(!cases.isEmpty, "no training cases to sample from")
        let caseIndex = Int(rng.next() % UInt64(cases.count))
        let item = cases[caseIndex]
        let shape = item.spatialShape
        let foreground = isForegroundSample(sampleIndex, rng: &rng)
        let present = item.presentForegroundClasses
        if foreground, !present.isEmpty {
            let cls = present[Int(rng.next() % UInt64(present.count))]
            let locations = item.classLocations[cls]
            let flat = Int(locations[Int(rng.next() % UInt64(locations.count))])
            let voxel = [flat / (shape[1] * shape[2]), (flat / shape[2]) % shape[1], flat % shape[2]]
            return Choice(caseIndex: caseIndex, lower: centredLower(voxel: voxel, shape: shape), foregroundClass: cls)
        }
        let lower = (0..<3).map { axis -> Int in
            let (lo, hi) = PatchSampler.lowerRange(size: shape[axis], patch: patchSize[axis])
            return lo + Int(rng.next() % UInt64(hi - lo + 1))
        }
        return Choice(caseIndex: caseIndex, lower: lower, foregroundClass: nil)
    }

    /// The lower corner of a patch centred (as far as the volume allows) on `voxel` [D, H, W] of a
    /// volume of `shape`.
    public func centredLower(voxel: [Int], shape: [Int]) -> [Int] {
        (0..<3).map { axis -> Int in
            let (lo, hi) = PatchSampler.lowerRange(size: shape[axis], patch: patchSize[axis])
            return min(max(voxel[axis] - patchSize[axis] / 2, lo), hi)
        }
    }

    /// Lower corners that keep the patch inside the volume, or, for a volume smaller than the
    /// patch, keep the volume inside the patch (padding on either side).
    static func lowerRange(size: Int, patch: Int) -> (Int, Int) {
        size >= patch ? (0, size - patch) : (size - patch, 0)
    }
}
