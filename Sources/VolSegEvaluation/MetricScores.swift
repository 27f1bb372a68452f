import Foundation

/// The scores of one label or region in one case: overlap (Dice, IoU), surface metrics (HD95 and
/// ASSD in mm by the evaluation's `SurfaceMetricSettings`, NSD at its tolerance), the confusion
/// counts in voxels and both volumes in mm³.
///
/// Undefined values are explicit, never 0 or 1: a label empty in both prediction and reference has
/// Dice, IoU and NSD NaN (nnU-Net writes NaN there); a label empty on one side only has Dice 0,
/// IoU 0, NSD 0 and no surface distances (nil, written NaN).
public struct MetricScores: Equatable, Sendable, Codable {
    public var dice: Double
    public var iou: Double
    public var hd95: Double?
    public var assd: Double?
    /// Normalised surface Dice at the label's tolerance; nil when not computed.
    public var nsd: Double?
    public var tp: Int
    public var fp: Int
    public var fn: Int
    public var tn: Int

    public init(dice: Double, iou: Double, hd95: Double?, assd: Double?, nsd: Double? = nil, tp: Int, fp: Int, fn: Int, tn: Int,
                voxelVolumeMM3: Double) {
        self.dice = dice
        self.iou = iou
        self.hd95 = hd95
        self.assd = assd
        self.nsd = nsd
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
    /// reference's voxel size along x, y, z in mm. `ignoredVoxels` (voxels of nnU-Net's ignore
    /// label, already removed from both masks) are not counted as true negatives either.
    public static func compute(prediction: EvaluationMask, reference: EvaluationMask, spacingXYZ: [Double],
                               surface settings: SurfaceMetricSettings = SurfaceMetricSettings(),
                               nsdTolerance: Double? = nil, ignoredVoxels: Int = 0) -> MetricScores {
        precondition(prediction.shape == reference.shape, "prediction \(prediction.shape) and reference \(reference.shape) differ")
        let total = prediction.shape.reduce(1, *) - ignoredVoxels
        let (tp, fp, fn) = EvaluationMask.overlap(prediction: prediction, reference: reference)
        let dice = dice(tp: tp, fp: fp, fn: fn)
        let union = Double(tp + fp + fn)
        let iou = union == 0 ? Double.nan : Double(tp) / union
        let surfaces = SurfaceDistances(prediction: prediction, reference: reference, spacingXYZ: spacingXYZ)
        // DeepMind's surface elements serve both its HD95 and NSD: built once, when needed.
        var elements: SurfaceElements?
        func surfaceElements() -> SurfaceElements {
            if let elements { return elements }
            let built = SurfaceElements(prediction: prediction, reference: reference, spacingXYZ: spacingXYZ)
            elements = built
            return built
        }
        let hd95: Double?
        switch settings.hd95 {
        case .monai: hd95 = surfaces?.directedHausdorff95
        case .medpy: hd95 = surfaces?.hausdorff95
        case .deepmind:
            hd95 = (prediction.isEmpty || reference.isEmpty) ? nil : surfaceElements().robustHausdorff(percent: 95)
        }
        let assd: Double?
        switch settings.assd {
        case .monai: assd = surfaces?.pooledAverageSurfaceDistance
        case .medpy04: assd = surfaces?.averageSymmetricSurfaceDistance
        }
        let nsd = nsdTolerance.map { tolerance -> Double in
            if prediction.isEmpty && reference.isEmpty { return .nan }
            if prediction.isEmpty || reference.isEmpty { return 0 }
            return surfaceElements().surfaceDice(toleranceMM: tolerance)
        }
        return MetricScores(dice: dice, iou: iou, hd95: hd95, assd: assd, nsd: nsd,
                            tp: tp, fp: fp, fn: fn, tn: total - tp - fp - fn,
                            voxelVolumeMM3: spacingXYZ.reduce(1, *))
    }

    /// The metric names of metrics.csv, in their column order.
    public static let keys = ["dice", "iou", "hd95", "assd", "nsd", "tp", "fp", "fn", "tn", "n_pred", "n_ref"]
    /// summary.json also gives the volumes.
    public static let volumeKeys = ["volume_pred_mm3", "volume_ref_mm3"]

    /// nnU-Net's spelling of each metric in summary.json (its own keys, then VolSeg's extras in the
    /// same style; nnU-Net's loader ignores metric keys it does not know).
    public static let nnUNetKeys: [String: String] = [
        "dice": "Dice", "iou": "IoU", "tp": "TP", "fp": "FP", "fn": "FN", "tn": "TN", "n_pred": "n_pred", "n_ref": "n_ref",
        "hd95": "HD95", "assd": "ASSD", "nsd": "NSD", "volume_pred_mm3": "volume_pred_mm3", "volume_ref_mm3": "volume_ref_mm3",
    ]

    /// A metric by name; nil when it is undefined for this case (hd95 and assd with an empty side).
    public func value(_ key: String) -> Double? {
        switch key {
        case "dice": return dice
        case "iou": return iou
        case "hd95": return hd95
        case "assd": return assd
        case "nsd": return nsd
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
        return same(a.dice, b.dice) && same(a.iou, b.iou) && same(a.hd95, b.hd95) && same(a.assd, b.assd) && same(a.nsd, b.nsd)
            && a.tp == b.tp && a.fp == b.fp && a.fn == b.fn && a.tn == b.tn && a.voxelVolumeMM3 == b.voxelVolumeMM3
    }
}
