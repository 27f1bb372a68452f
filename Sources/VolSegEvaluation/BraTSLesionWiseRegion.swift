import Foundation
import VolSegCore

extension BraTSLesionWise {
    /// One region of one case, as metrics.py's `get_LesionWiseScores` and `get_LesionWiseResults`
    /// compute it:
    ///
    /// 1. the predicted region's 26-connected components;
    /// 2. reference lesions merged by dilation: the reference region dilated `dilationIterations`
    ///    times with the 18-connected structure; the reference voxels of each 26-connected
    ///    component of that are one lesion (`get_GTseg_combinedByDilation`);
    /// 3. a predicted component matches a lesion when it has a voxel inside the lesion dilated the
    ///    same way; lesion Dice and HD95 are taken against the union of the whole matched
    ///    components (Dice 0 and HD95 inf -> 374 when there is none);
    /// 4. components matching no lesion are false positives (Dice 0, HD95 374, never thresholded);
    /// 5. lesions of at most the threshold volume leave the means and the TP/FN counts.
    ///
    /// Every per-lesion step works in the lesion's box (grown by the dilation, or holding the
    /// matched components), never on the whole grid: the results are the same, since dilation
    /// cannot reach further and distances do not depend on where the grid is cut.
    public static func scores(prediction: EvaluationMask, reference: EvaluationMask, region: BraTSRegion,
                              spacingXYZ: [Double], challenge: BraTSChallenge) -> BraTSRegionScores {
        precondition(prediction.shape == reference.shape, "masks on different grids")
        precondition(spacingXYZ.count == 3, "spacing is (x, y, z)")
        let shape = reference.shape, total = shape.reduce(1, *)
        // metrics.py: np.sum(mask) * sx * sy * sz, multiplied left to right.
        func volume(_ voxels: Int) -> Double { Double(voxels) * spacingXYZ[0] * spacingXYZ[1] * spacingXYZ[2] }
        func finite(_ hd95: Double) -> Double { hd95.isFinite ? hd95 : missingHD95MM }

        let (tp, fp, fn) = EvaluationMask.overlap(prediction: prediction, reference: reference)
        let emptyBoth = prediction.isEmpty && reference.isEmpty
        // The BraTS code's own value for a region empty in both is 1 (the one Dice rule says NaN).
        let legacyDice = emptyBoth ? 1 : MetricScores.dice(tp: tp, fp: fp, fn: fn)
        let legacyHD95 = emptyBoth ? 0 : finite(SurfaceElements(prediction: prediction, reference: reference,
                                                                spacingXYZ: spacingXYZ).robustHausdorff(percent: 95))
        let tn = total - tp - fp - fn
        let tiny = Double.leastNormalMagnitude   // GaNDLF's sys.float_info.min
        let sensitivity = emptyBoth ? 1 : Double(tp) / (Double(tp + fn) + tiny)
        let specificity = Double(tn) / (Double(tn + fp) + tiny)

        let iterations = challenge.dilationIterations
        let components = prediction.voxels.withUnsafeBufferPointer {
            ConnectedComponents(mask: $0.baseAddress!, shape: shape, connectivity: .corners)
        }
        let dilated = BinaryDilation.dilate(reference.voxels, shape: shape, connectivity: .edges, iterations: iterations)
        let groups = dilated.withUnsafeBufferPointer {
            ConnectedComponents(mask: $0.baseAddress!, shape: shape, connectivity: .corners)
        }
        let componentTable = UnsafePointer(components.table.pointer!), groupTable = UnsafePointer(groups.table.pointer!)
        let predicted = ComponentExtent.of(componentTable, count: components.count, shape: shape, inside: nil)
        let lesionExtents = reference.voxels.withUnsafeBufferPointer {
            ComponentExtent.of(groupTable, count: groups.count, shape: shape, inside: $0.baseAddress!)
        }

        var rows = [BraTSLesion](), matchedAny = [Bool](repeating: false, count: components.count)
        var isMatched = [Bool](repeating: false, count: components.count)
        reference.voxels.withUnsafeBufferPointer { referenceBuffer in
            let gt = referenceBuffer.baseAddress!
            for (k, lesion) in lesionExtents.enumerated() {
                let label = Int32(k)
                // The lesion dilated in its grown box: the components it reaches.
                let grown = lesion.box.grown(by: iterations, within: shape)
                let own = grown.mask { gt[$0] != 0 && groupTable[$0] == label }
                let reach = BinaryDilation.dilate(own, shape: grown.shape, connectivity: .edges, iterations: iterations)
                var matched = Set<Int>()
                grown.forEachIndex { local, index in
                    if reach[local] != 0, componentTable[index] >= 0 { matched.insert(Int(componentTable[index])) }
                }
                let sortedMatches = matched.sorted()
                for c in sortedMatches { isMatched[c] = true; matchedAny[c] = true }
                // Dice and HD95 in the box holding the lesion and its matched components.
                let box = sortedMatches.reduce(lesion.box) { $0.union(predicted[$1].box) }
                let lesionMask = box.mask { gt[$0] != 0 && groupTable[$0] == label }
                let predictedMask = box.mask { componentTable[$0] >= 0 && isMatched[Int(componentTable[$0])] }
                var both = 0
                for (a, b) in zip(lesionMask, predictedMask) where a != 0 && b != 0 { both += 1 }
                let predictedVoxels = sortedMatches.reduce(0) { $0 + components.sizes[$1] }
                let dice = MetricScores.dice(tp: both, fp: predictedVoxels - both, fn: lesion.voxels - both)
                let hd95 = SurfaceElements(prediction: EvaluationMask(voxels: predictedMask, shape: box.shape),
                                           reference: EvaluationMask(voxels: lesionMask, shape: box.shape),
                                           spacingXYZ: spacingXYZ).robustHausdorff(percent: 95)
                for c in sortedMatches { isMatched[c] = false }
                let lesionVolume = volume(lesion.voxels)
                rows.append(BraTSLesion(referenceLesion: k + 1, predictedComponents: sortedMatches.map { $0 + 1 },
                                        voxels: lesion.voxels, volumeMM3: lesionVolume, centroidXYZ: lesion.centroidXYZ,
                                        counted: lesionVolume > challenge.lesionVolumeThresholdMM3,
                                        dice: dice, hd95: finite(hd95)))
            }
        }
        for (c, component) in predicted.enumerated() where !matchedAny[c] {
            rows.append(BraTSLesion(referenceLesion: nil, predictedComponents: [c + 1], voxels: component.voxels,
                                    volumeMM3: volume(component.voxels), centroidXYZ: component.centroidXYZ,
                                    counted: true, dice: 0, hd95: missingHD95MM))
        }
        withExtendedLifetime((components, groups)) {}

        let counted = rows.filter { !$0.isFalsePositive && $0.counted }
        let falsePositives = rows.filter(\.isFalsePositive).count
        let scored = counted.count + falsePositives
        // metrics.py: 0 / 0 is NaN, which it turns into Dice 1 and HD95 0.
        let lesionWiseDice = scored == 0 ? 1 : counted.reduce(0) { $0 + $1.dice } / Double(scored)
        let lesionWiseHD95 = scored == 0 ? 0
            : (counted.reduce(0) { $0 + $1.hd95 } + missingHD95MM * Double(falsePositives)) / Double(scored)
        return BraTSRegionScores(
            region: region, lesions: rows, lesionWiseDice: lesionWiseDice, lesionWiseHD95: lesionWiseHD95,
            truePositives: counted.filter { !$0.predictedComponents.isEmpty }.count,
            falseNegatives: counted.filter { $0.predictedComponents.isEmpty }.count, falsePositives: falsePositives,
            legacyDice: legacyDice, legacyHD95: legacyHD95, sensitivity: sensitivity, specificity: specificity,
            referenceVolumeMM3: volume(reference.count), predictionVolumeMM3: volume(prediction.count), emptyBoth: emptyBoth)
    }
}

/// A box of a [nz, ny, nx] grid: lower bounds inclusive, upper exclusive, as [z, y, x].
struct VoxelBox: Equatable {
    var lower: [Int]
    var upper: [Int]
    /// The full grid's [nz, ny, nx].
    let grid: [Int]

    var shape: [Int] { (0..<3).map { upper[$0] - lower[$0] } }

    func grown(by margin: Int, within grid: [Int]) -> VoxelBox {
        VoxelBox(lower: lower.map { max(0, $0 - margin) }, upper: (0..<3).map { min(grid[$0], upper[$0] + margin) }, grid: grid)
    }

    func union(_ other: VoxelBox) -> VoxelBox {
        VoxelBox(lower: zip(lower, other.lower).map { min($0, $1) }, upper: zip(upper, other.upper).map { max($0, $1) }, grid: grid)
    }

    /// `body(local index in the box, index in the grid)` for every voxel of the box, x fastest.
    func forEachIndex(_ body: (Int, Int) -> Void) {
        var local = 0
        for z in lower[0]..<upper[0] {
            for y in lower[1]..<upper[1] {
                let row = (z * grid[1] + y) * grid[2]
                for x in lower[2]..<upper[2] {
                    body(local, row + x)
                    local += 1
                }
            }
        }
    }

    /// The box's voxels where `inside(index in the grid)` holds, as a 0/1 mask of the box's shape.
    func mask(_ inside: (Int) -> Bool) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: shape.reduce(1, *))
        forEachIndex { local, index in if inside(index) { out[local] = 1 } }
        return out
    }
}

/// Voxel count, box and centroid of each component of a component table.
struct ComponentExtent {
    var voxels = 0
    var box: VoxelBox
    var sum = [0.0, 0.0, 0.0]

    /// Mean position (x, y, z).
    var centroidXYZ: [Double] { sum.map { $0 / Double(voxels) } }

    /// Per component of `table` (-1 = none), counting only voxels where `inside` is nonzero.
    static func of(_ table: UnsafePointer<Int32>, count: Int, shape: [Int], inside: UnsafePointer<UInt8>?) -> [ComponentExtent] {
        let empty = VoxelBox(lower: [Int.max, Int.max, Int.max], upper: [Int.min, Int.min, Int.min], grid: shape)
        var out = [ComponentExtent](repeating: ComponentExtent(box: empty), count: count)
        let (nz, ny, nx) = (shape[0], shape[1], shape[2])
        // Per component and axis: lower, upper (exclusive), sum; flat, for a tight loop.
        var lower = [Int](repeating: Int.max, count: 3 * count), upper = [Int](repeating: Int.min, count: 3 * count)
        var sums = [Double](repeating: 0, count: 3 * count), voxels = [Int](repeating: 0, count: count)
        for z in 0..<nz {
            for y in 0..<ny {
                let row = (z * ny + y) * nx
                for x in 0..<nx {
                    let c = Int(table[row + x])
                    if c < 0 { continue }
                    if let inside, inside[row + x] == 0 { continue }
                    voxels[c] += 1
                    lower[3 * c] = min(lower[3 * c], z)
                    lower[3 * c + 1] = min(lower[3 * c + 1], y)
                    lower[3 * c + 2] = min(lower[3 * c + 2], x)
                    upper[3 * c] = max(upper[3 * c], z + 1)
                    upper[3 * c + 1] = max(upper[3 * c + 1], y + 1)
                    upper[3 * c + 2] = max(upper[3 * c + 2], x + 1)
                    sums[3 * c] += Double(z)
                    sums[3 * c + 1] += Double(y)
                    sums[3 * c + 2] += Double(x)
                }
            }
        }
        for c in 0..<count {
            out[c].voxels = voxels[c]
            out[c].box = VoxelBox(lower: Array(lower[(3 * c)..<(3 * c + 3)]), upper: Array(upper[(3 * c)..<(3 * c + 3)]), grid: shape)
            out[c].sum = [sums[3 * c + 2], sums[3 * c + 1], sums[3 * c]]
        }
        return out
    }
}

extension EvaluationMask {
    /// A mask from its 0/1 voxels on a [nz, ny, nx] grid.
    init(voxels: [UInt8], shape: [Int]) {
        precondition(voxels.count == shape.reduce(1, *), "\(voxels.count) voxels for a \(shape) grid")
        var count = 0, lower = [Int.max, Int.max, Int.max], upper = [-1, -1, -1]
        let (ny, nx) = (shape[1], shape[2])
        for (i, v) in voxels.enumerated() where v != 0 {
            count += 1
            let position = [i / (ny * nx), (i / nx) % ny, i % nx]
            for axis in 0..<3 {
                lower[axis] = min(lower[axis], position[axis])
                upper[axis] = max(upper[axis], position[axis] + 1)
            }
        }
        self.shape = shape
        self.voxels = voxels
        self.count = count
        self.box = count > 0 ? (lower, upper) : nil
    }
}
