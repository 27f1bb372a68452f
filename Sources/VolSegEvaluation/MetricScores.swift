import Foundation

/// The scores of one label or region in one case: overlap (Dice, IoU), surface distances (HD95,
/// ASSD, in mm), the confusion counts in voxels and both volumes in mm³.
///
/// Undefined values are explicit, never 0 or 1: a label empty in both prediction and reference has
/// Dice and IoU NaN (nnU-Net writes NaN there); a label empty on one side only has Dice 0, IoU 0 and
/// no surface distances (nil).
public struct MetricScores: Equatable, Sendable {
    public var dice: Double
    public var iou: Double
    public var hd95: Double?
    public var assd: Double?
    public var tp: Int
    public var fp: Int
    public var fn: Int
    public var tn: Int

    public init(dice: Double, iou: Double, hd95: Double?, assd: Double?, tp: Int, fp: Int, fn: Int, tn: Int,
                voxelVolumeMM3: Double) {
        self.dice = dice
        self.iou = iou
        self.hd95 = hd95
        self.assd = assd
        self.tp = tp
        self.fp = fp
        self.fn = fn
        self.tn = tn
        self.voxelVolumeMM3 = voxelVolumeMM3
    }

    /// The volume of one voxel (product of the spacing), for the volumes below.
    public var voxelVolumeMM3: Double
    /// Voxels in the prediction / the reference.
    public var nPred: Int { tp + fp }
    public var nRef: Int { tp + fn }
    public var predictionVolumeMM3: Double { Double(nPred) * voxelVolumeMM3 }
    public var referenceVolumeMM3: Double { Double(nRef) * voxelVolumeMM3 }

    /// Both empty: the case says nothing about this label (Dice NaN).
    public var isEmptyInBoth: Bool { nPred == 0 && nRef == 0 }

    /// Dice 2TP / (2TP + FP + FN), NaN when prediction and reference are both empty: the one Dice
    /// of the program (evaluation and training validation both call it).
    public static func dice(tp: Int, fp: Int, fn: Int) -> Double {
        let denominator = Double(2 * tp + fp + fn)
        return denominator == 0 ? .nan : Double(2 * tp) / denominator
    }

    /// Dice of one label or region between two label maps on the same [nz, ny, nx] grid.
    public static func dice(prediction: UnsafePointer<Float>, reference: UnsafePointer<Float>, shape: [Int],
                            values: Set<Int>) -> Double {
        let (tp, fp, fn) = EvaluationMask.overlap(prediction: EvaluationMask(labels: prediction, shape: shape, values: values),
                                                  reference: EvaluationMask(labels: reference, shape: shape, values: values))
        return dice(tp: tp, fp: fp, fn: fn)
    }

    /// Scores of a prediction mask against a reference mask on the same grid; `spacingXYZ` is the
    /// reference's voxel size along x, y, z in mm.
    public static func compute(prediction: EvaluationMask, reference: EvaluationMask, spacingXYZ: [Double]) -> MetricScores {
        precondition(prediction.shape == reference.shape, "prediction \(prediction.shape) and reference \(reference.shape) differ")
        let total = prediction.shape.reduce(1, *)
        let (tp, fp, fn) = EvaluationMask.overlap(prediction: prediction, reference: reference)
        let dice = dice(tp: tp, fp: fp, fn: fn)
        let union = Double(tp + fp + fn)
        let iou = union == 0 ? Double.nan : Double(tp) / union
        let surfaces = SurfaceDistances(prediction: prediction, reference: reference, spacingXYZ: spacingXYZ)
        return MetricScores(dice: dice, iou: iou, hd95: surfaces?.hausdorff95,
                            assd: surfaces?.averageSymmetricSurfaceDistance,
                            tp: tp, fp: fp, fn: fn, tn: total - tp - fp - fn,
                            voxelVolumeMM3: spacingXYZ.reduce(1, *))
    }

    /// The metric names of metrics.csv and summary.json, in their column order (nnU-Net's names).
    public static let keys = ["dice", "iou", "hd95", "assd", "tp", "fp", "fn", "tn", "n_pred", "n_ref"]
    /// summary.json also gives the volumes.
    public static let volumeKeys = ["volume_pred_mm3", "volume_ref_mm3"]

    /// A metric by name; nil when it is undefined for this case (hd95 and assd with an empty side).
    public func value(_ key: String) -> Double? {
        switch key {
        case "dice": return dice
        case "iou": return iou
        case "hd95": return hd95
        case "assd": return assd
        case "tp": return Double(tp)
        case "fp": return Double(fp)
        case "fn": return Double(fn)
        case "tn": return Double(tn)
        case "n_pred": return Double(nPred)
        case "n_ref": return Double(nRef)
        case "volume_pred_mm3": return predictionVolumeMM3
        case "volume_ref_mm3": return referenceVolumeMM3
        default: return nil
        }
    }

    /// NaN-aware equality (two NaN Dice scores are the same score).
    public static func == (a: MetricScores, b: MetricScores) -> Bool {
        func same(_ x: Double?, _ y: Double?) -> Bool {
            switch (x, y) {
            case (nil, nil): return true
            case (let x?, let y?): return x == y || (x.isNaN && y.isNaN)
            default: return false
            }
        }
        return same(a.dice, b.dice) && same(a.iou, b.iou) && same(a.hd95, b.hd95) && same(a.assd, b.assd)
            && a.tp == b.tp && a.fp == b.fp && a.fn == b.fn && a.tn == b.tn && a.voxelVolumeMM3 == b.voxelVolumeMM3
    }
}
