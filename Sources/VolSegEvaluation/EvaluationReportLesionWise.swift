import Foundation
import VolSegIO

/// The lesion-wise outputs: OUT/lesions.csv and the `lesionwise` section of summary_extra.json.
extension EvaluationReportJSON {
    /// lesions.csv: one row per case, region and lesion, the reference lesions first (status TP or
    /// FN), then the predicted components that match none (status FP, no lesion number). Columns
    /// `case,region,lesion,status,counted,voxels,volume_mm3,centroid_x,centroid_y,centroid_z,pred_components,dice,hd95`;
    /// `pred_components` lists component numbers separated by `;`, the centroid is in voxels
    /// (x, y, z = NIfTI i, j, k), HD95 in mm with 374 for a missed lesion or an FP.
    public static func lesionCSV(_ result: EvaluationResult) -> String {
        var lines = ["case,region,lesion,status,counted,voxels,volume_mm3,centroid_x,centroid_y,centroid_z,pred_components,dice,hd95"]
        for evaluation in result.cases {
            for region in evaluation.lesionWise ?? [] {
                for lesion in region.lesions {
                    let fields = [csvField(evaluation.pair.caseID), region.region.rawValue,
                                  lesion.referenceLesion.map(String.init) ?? "", lesion.status, lesion.counted ? "true" : "false",
                                  String(lesion.voxels), number(lesion.volumeMM3)]
                        + lesion.centroidXYZ.map { String(format: "%.4f", $0) }
                        + [lesion.predictedComponents.map(String.init).joined(separator: ";"), number(lesion.dice), number(lesion.hd95)]
                    lines.append(fields.joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// summary_extra.json's `lesionwise`: the challenge's parameters, per case and region the
    /// values of metrics.py's results table (its column names) with `empty_both`, and per region
    /// their plain mean over the cases. nil without lesion-wise metrics.
    static func lesionWiseSection(_ result: EvaluationResult) -> PythonJSON? {
        guard let (challenge, convention) = result.lesionWise else { return nil }
        var cases = [String: PythonJSON]()
        for evaluation in result.cases {
            var regions = [String: PythonJSON]()
            for scores in evaluation.lesionWise ?? [] {
                var entry = [String: PythonJSON]()
                for key in BraTSRegionScores.summaryKeys {
                    let value = scores.summaryValue(key)
                    entry[key] = BraTSRegionScores.integerKeys.contains(key) ? .integer(Int(value)) : .float(value)
                }
                entry["empty_both"] = .bool(scores.emptyBoth)
                regions[scores.region.rawValue] = .object(entry)
            }
            cases[evaluation.pair.caseID] = .object(regions)
        }
        var means = [String: PythonJSON]()
        for (region, values) in BraTSLesionWise.means(result.cases.compactMap(\.lesionWise)) {
            // Means of counts are fractions: floats, never integers.
            means[region.rawValue] = .object(values.mapValues { .float($0) })
        }
        return .object([
            "challenge": .string(challenge.challengeName),
            "dilation_iterations": .integer(challenge.dilationIterations),
            "lesion_volume_threshold_mm3": .float(challenge.lesionVolumeThresholdMM3),
            "missing_hd95_mm": .float(BraTSLesionWise.missingHD95MM),
            "label_convention": .string(convention.name),
            "cases": .object(cases),
            "mean": .object(means),
        ])
    }
}
