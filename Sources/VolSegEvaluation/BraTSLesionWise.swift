import Foundation
import VolSegCore
import VolSegIO

/// The BraTS 2023+ challenges, with the two parameters the lesion-wise metrics of each depend on,
/// as `get_LesionWiseResults` of the BraTS-2023-Metrics repository (metrics.py) sets them.
public enum BraTSChallenge: String, CaseIterable, Sendable {
    /// Adult glioma.
    case gli
    /// Sub-Saharan Africa glioma.
    case ssa
    /// Paediatric tumours.
    case ped
    /// Meningioma.
    case men
    /// Brain metastases: many small lesions, hence the small threshold.
    case met

    /// The name metrics.py takes (`BraTS-GLI`).
    public var challengeName: String { "BraTS-" + rawValue.uppercased() }

    /// Binary dilations (18-connected structure, in voxels whatever the spacing) that merge nearby
    /// reference lesions and that a predicted component must reach to match one.
    public var dilationIterations: Int {
        switch self {
        case .gli, .ssa, .ped: return 3
        case .men, .met: return 1
        }
    }

    /// Reference lesions of at most this volume (mm³) are left out of the lesion-wise means and of
    /// the TP/FN counts (they still make the predicted components that touch them no FP).
    public var lesionVolumeThresholdMM3: Double {
        switch self {
        case .met: return 2
        default: return 50
        }
    }
}

/// The three BraTS 2023 regions, in BraTS 2023 label values (1 NCR, 2 ED, 3 ET).
public enum BraTSRegion: String, CaseIterable, Sendable, Codable {
    case wholeTumour = "WT"
    case tumourCore = "TC"
    case enhancingTumour = "ET"

    /// get_TissueWiseSeg's sets; every other value is background.
    public var labels2023: Set<Int> {
        switch self {
        case .wholeTumour: return [1, 2, 3]
        case .tumourCore: return [1, 3]
        case .enhancingTumour: return [3]
        }
    }
}

/// BraTS 2023+ lesion-wise Dice and HD95, computed as the challenge's code computes them (see
/// `scores(prediction:reference:region:spacingXYZ:challenge:)` for the steps). Per case, region and
/// reference lesion a row; per case and region a summary as the code's results table has it.
public enum BraTSLesionWise {
    /// What metrics.py writes for an infinite HD95 (a missed lesion, an FP component, an empty
    /// side of the legacy HD95): the diagonal of a 240 x 240 x 155 mm volume, rounded.
    public static let missingHD95MM = 374.0

    /// The BraTS 2023 value (1 NCR, 2 ED, 3 ET) of each foreground label value of `convention`,
    /// by what the value means; nil when the convention has no WT/TC/ET regions. A value's meaning
    /// is read from the regions it belongs to (in ET: enhancing; in TC but not ET: the non-enhancing
    /// or necrotic core; in WT only: oedema), so BraTS 2021 maps 4 -> 3 and MSD Task01 maps its 1
    /// (oedema) -> 2 and 2 (non-enhancing tumour) -> 1.
    public static func brats2023Values(of convention: LabelConvention) -> [Int: Int]? {
        guard let wt = convention.region("WT"), let tc = convention.region("TC"), let et = convention.region("ET") else { return nil }
        var out = [Int: Int]()
        for value in convention.labels.keys where value != 0 {
            if et.contains(value) { out[value] = 3 } else if tc.contains(value) { out[value] = 1 } else if wt.contains(value) { out[value] = 2 }
        }
        return out
    }

    /// The label values of `convention` that make up `region` once mapped to BraTS 2023 values.
    public static func values(of region: BraTSRegion, in convention: LabelConvention) -> Set<Int>? {
        brats2023Values(of: convention).map { Set($0.filter { region.labels2023.contains($0.value) }.keys) }
    }

    /// The label convention of an evaluation's data: the reference dataset's when its layout was
    /// detected, else that of `--regions`, else BraTS 2023. Throws when it has no WT/TC/ET.
    public static func convention(detected: LabelConvention?, regions: EvaluationLabel.Regions?) throws -> LabelConvention {
        let convention = detected ?? regions?.convention ?? .brats2023
        guard brats2023Values(of: convention) != nil else {
            throw EvaluationError.invalidArgument(
                option: "--metrics", value: "brats-lesionwise",
                reason: "the data's label convention \(convention.name) has no BraTS WT/TC/ET regions")
        }
        return convention
    }

    /// All three regions of one case. `spacingXYZ`: the prediction's voxel size (metrics.py takes
    /// the prediction header's zooms for volumes and distances).
    public static func evaluate(prediction: UnsafePointer<Float>, reference: UnsafePointer<Float>, shape: [Int],
                                spacingXYZ: [Double], challenge: BraTSChallenge,
                                convention: LabelConvention = .brats2023) -> [BraTSRegionScores] {
        BraTSRegion.allCases.map { region in
            let values = Self.values(of: region, in: convention) ?? region.labels2023
            return scores(prediction: EvaluationMask(labels: prediction, shape: shape, values: values),
                          reference: EvaluationMask(labels: reference, shape: shape, values: values),
                          region: region, spacingXYZ: spacingXYZ, challenge: challenge)
        }
    }

    /// Per region: the plain mean over cases of each summary value (the challenge ranks per-case
    /// values; every one is defined, empty regions having their conventional 1 and 0).
    public static func means(_ cases: [[BraTSRegionScores]]) -> [BraTSRegion: [String: Double]] {
        var out = [BraTSRegion: [String: Double]]()
        for region in BraTSRegion.allCases {
            let rows = cases.compactMap { $0.first { $0.region == region } }
            guard !rows.isEmpty else { continue }
            var means = [String: Double]()
            for key in BraTSRegionScores.summaryKeys {
                means[key] = rows.map { $0.summaryValue(key) }.reduce(0, +) / Double(rows.count)
            }
            out[region] = means
        }
        return out
    }
}
