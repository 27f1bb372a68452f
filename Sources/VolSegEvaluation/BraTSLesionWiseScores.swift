import Foundation

/// One row of the lesion-wise table: a reference lesion (after merging by dilation) with the
/// predicted components that match it, or a predicted component that matches no reference lesion
/// (a false positive).
public struct BraTSLesion: Equatable, Sendable, Codable {
    /// The reference lesion's number (1, 2, ... in the order of their first voxel, z then y then
    /// x); nil for a false-positive component.
    public let referenceLesion: Int?
    /// Numbers of the predicted 26-connected components (1, 2, ... in the order of their first
    /// voxel) that touch the dilated lesion; for a false positive, the component itself.
    public let predictedComponents: [Int]
    /// The lesion's (or FP component's) voxels and volume (voxels x sx x sy x sz, in mm³).
    public let voxels: Int
    public let volumeMM3: Double
    /// Mean voxel position (x, y, z = NIfTI i, j, k), to find the lesion.
    public let centroidXYZ: [Double]
    /// Whether the row enters the lesion-wise means and counts: a reference lesion above the
    /// challenge's volume threshold, or any false positive (FP components are never thresholded).
    public let counted: Bool
    /// Dice of the lesion and the union of its whole matched components (0 when none match, and
    /// for an FP component).
    public let dice: Double
    /// DeepMind robust HD95 (mm) between them; 374 when none match (metrics.py's value for inf).
    public let hd95: Double

    public var isFalsePositive: Bool { referenceLesion == nil }
    /// TP (matched), FN (no matching component) or FP.
    public var status: String { isFalsePositive ? "FP" : (predictedComponents.isEmpty ? "FN" : "TP") }
}

/// The lesion-wise and legacy scores of one region in one case: the row metrics.py's
/// `get_LesionWiseResults` puts in its results table, plus the lesions behind it.
public struct BraTSRegionScores: Equatable, Sendable, Codable {
    public let region: BraTSRegion
    /// The reference lesions (in their number order), then the FP components.
    public let lesions: [BraTSLesion]
    /// Σ Dice of counted lesions / (counted lesions + FP); 1 when there is neither.
    public let lesionWiseDice: Double
    /// (Σ HD95 of counted lesions + 374 FP) / (counted lesions + FP); 0 when there is neither.
    public let lesionWiseHD95: Double
    /// Counted reference lesions with a matching component / without one; FP components.
    public let truePositives: Int
    public let falseNegatives: Int
    public let falsePositives: Int
    /// Dice of the whole region (1 when empty in both).
    public let legacyDice: Double
    /// DeepMind robust HD95 of the whole region (0 when empty in both, 374 when one side is empty).
    public let legacyHD95: Double
    /// Voxel-wise, as metrics.py takes them from GaNDLF (sensitivity 1 when empty in both).
    public let sensitivity: Double
    public let specificity: Double
    /// Reference and prediction volumes of the whole region (mm³).
    public let referenceVolumeMM3: Double
    public let predictionVolumeMM3: Double
    /// The region is empty in reference and prediction: the 1 / 0 values are conventions.
    public let emptyBoth: Bool

    public init(region: BraTSRegion, lesions: [BraTSLesion], lesionWiseDice: Double, lesionWiseHD95: Double,
                truePositives: Int, falseNegatives: Int, falsePositives: Int, legacyDice: Double, legacyHD95: Double,
                sensitivity: Double, specificity: Double, referenceVolumeMM3: Double, predictionVolumeMM3: Double,
                emptyBoth: Bool) {
        self.region = region
        self.lesions = lesions
        self.lesionWiseDice = lesionWiseDice
        self.lesionWiseHD95 = lesionWiseHD95
        self.truePositives = truePositives
        self.falseNegatives = falseNegatives
        self.falsePositives = falsePositives
        self.legacyDice = legacyDice
        self.legacyHD95 = legacyHD95
        self.sensitivity = sensitivity
        self.specificity = specificity
        self.referenceVolumeMM3 = referenceVolumeMM3
        self.predictionVolumeMM3 = predictionVolumeMM3
        self.emptyBoth = emptyBoth
    }

    /// The summary values under the column names of metrics.py's results table.
    public static let summaryKeys = ["LesionWise_Score_Dice", "LesionWise_Score_HD95", "Num_TP", "Num_FP", "Num_FN",
                                     "Legacy_Dice", "Legacy_HD95", "Sensitivity", "Specificity", "GT_Complete_Volume"]
    static let integerKeys: Set<String> = ["Num_TP", "Num_FP", "Num_FN"]

    public func summaryValue(_ key: String) -> Double {
        switch key {
        case "LesionWise_Score_Dice": return lesionWiseDice
        case "LesionWise_Score_HD95": return lesionWiseHD95
        case "Num_TP": return Double(truePositives)
        case "Num_FP": return Double(falsePositives)
        case "Num_FN": return Double(falseNegatives)
        case "Legacy_Dice": return legacyDice
        case "Legacy_HD95": return legacyHD95
        case "Sensitivity": return sensitivity
        case "Specificity": return specificity
        case "GT_Complete_Volume": return referenceVolumeMM3
        default: preconditionFailure("no lesion-wise summary value \(key)")
        }
    }
}
