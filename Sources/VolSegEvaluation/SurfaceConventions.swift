import Foundation
import VolSegIO

/// How HD95 is computed. The three conventions in use differ by up to half a millimetre on real
/// label pairs, so every output names the one it used.
public enum HD95Convention: String, CaseIterable, Sendable {
    /// MONAI's `compute_hausdorff_distance(percentile=95)`: border voxels (the mask minus its
    /// 6-connected erosion), Euclidean mm between voxel centres, the 95th percentile of each
    /// direction (linear interpolation), the larger of the two. The default: MONAI is what most
    /// current papers and the MSD-style leaderboards report.
    case monai
    /// DeepMind's `compute_robust_hausdorff(..., 95)`: surface elements on the voxel-corner grid,
    /// area-weighted 95th percentile per direction, the larger of the two (the BraTS challenge's code).
    case deepmind
    /// MedPy's `hd95`: the 95th percentile of both directions' border distances pooled.
    case medpy

    public var summary: String {
        switch self {
        case .monai: return "max of the two directed 95th percentiles over border voxels (MONAI compute_hausdorff_distance)"
        case .deepmind: return "area-weighted robust Hausdorff over surface elements (DeepMind surface_distance.compute_robust_hausdorff)"
        case .medpy: return "95th percentile of both directions pooled (MedPy hd95)"
        }
    }
}

/// How ASSD is computed from the two directed border-distance sets.
public enum ASSDConvention: String, CaseIterable, Sendable {
    /// The mean of both directions' distances pooled: MONAI's
    /// `compute_average_surface_distance(symmetric=True)` and MedPy 0.5's `assd`. The default.
    case monai
    /// The mean of the two directed means (MedPy <= 0.4's `assd`).
    case medpy04

    public var summary: String {
        switch self {
        case .monai: return "mean of both directions' distances pooled (MONAI compute_average_surface_distance symmetric=True, MedPy 0.5 assd)"
        case .medpy04: return "mean of the two directed mean distances (MedPy <= 0.4 assd)"
        }
    }
}

/// The surface conventions of an evaluation and the NSD tolerance per label.
public struct SurfaceMetricSettings: Equatable, Sendable {
    public var hd95: HD95Convention
    public var assd: ASSDConvention
    /// Normalised surface Dice tolerance in mm (DeepMind's `compute_surface_dice_at_tolerance`).
    public var nsdToleranceMM: Double
    /// Per label name, a tolerance replacing `nsdToleranceMM`.
    public var nsdToleranceByLabel: [String: Double]

    public init(hd95: HD95Convention = .monai, assd: ASSDConvention = .monai, nsdToleranceMM: Double = 1,
                nsdToleranceByLabel: [String: Double] = [:]) {
        self.hd95 = hd95
        self.assd = assd
        self.nsdToleranceMM = nsdToleranceMM
        self.nsdToleranceByLabel = nsdToleranceByLabel
    }

    public func nsdTolerance(for label: EvaluationLabel) -> Double {
        nsdToleranceByLabel[label.name] ?? nsdToleranceMM
    }

    /// What every output says about the conventions it used.
    public var descriptions: [String: String] {
        ["HD95": "\(hd95.rawValue): \(hd95.summary)",
         "ASSD": "\(assd.rawValue): \(assd.summary)",
         "NSD": "DeepMind compute_surface_dice_at_tolerance, tolerance \(PythonJSON.pythonRepr(nsdToleranceMM)) mm"
            + nsdToleranceByLabel.sorted { $0.key < $1.key }.map { ", \($0.key) \(PythonJSON.pythonRepr($0.value)) mm" }.joined()]
    }

    /// Parses `--nsd-tolerance` values: `MM` (every label) or `label=MM`.
    public static func parseTolerances(_ arguments: [String]) throws -> (default: Double?, byLabel: [String: Double]) {
        var fallback: Double?, byLabel: [String: Double] = [:]
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            guard let value = Double(parts.last!.trimmingCharacters(in: .whitespaces)), value.isFinite, value >= 0 else {
                throw EvaluationError.invalidArgument(option: "--nsd-tolerance", value: argument,
                                                      reason: "a tolerance is MM or LABEL=MM with MM a non-negative number of millimetres")
            }
            if parts.count == 2 { byLabel[parts[0]] = value } else { fallback = value }
        }
        return (fallback, byLabel)
    }
}
