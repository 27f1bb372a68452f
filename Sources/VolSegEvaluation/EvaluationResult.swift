import Foundation
import VolSegIO

/// Every case's scores and the dataset scores built from them, as nnU-Net summarises a folder:
/// the mean of each metric per label (undefined values left out), the foreground mean (the plain
/// mean of the label means), and LiTS's "Dice global" per label.
public struct EvaluationResult: Sendable {
    public let labels: [EvaluationLabel]
    public let cases: [CaseEvaluation]
    public let matching: EvaluationMatching
    /// Things a user should know that did not stop the evaluation.
    public let warnings: [String]
    /// With lesion-wise metrics: the challenge whose parameters they used and the label convention
    /// the data was read in (the cases' `lesionWise` hold the scores).
    public var lesionWise: (challenge: BraTSChallenge, convention: LabelConvention)? = nil

    public init(labels: [EvaluationLabel], cases: [CaseEvaluation], matching: EvaluationMatching, warnings: [String]) {
        self.labels = labels
        self.cases = cases
        self.matching = matching
        self.warnings = warnings
    }

    /// The keys of the dataset means: the metrics, then the volumes.
    public static var meanKeys: [String] { MetricScores.keys + MetricScores.volumeKeys }

    /// Per label name, per metric: the mean over the cases where the metric is defined (NaN Dice of
    /// an empty-in-both case and missing distances are left out; nnU-Net's `np.nanmean`); NaN when
    /// no case defines it.
    public var mean: [String: [String: Double]] {
        var out = [String: [String: Double]]()
        for (index, label) in labels.enumerated() {
            var metrics = [String: Double]()
            for key in Self.meanKeys {
                metrics[key] = Self.nanMean(cases.compactMap { $0.scores[index].value(key) })
            }
            out[label.name] = metrics
        }
        return out
    }

    /// Per metric: the plain mean of the label means, label 0 left out, as nnU-Net computes
    /// `foreground_mean` (`np.mean`): one label whose mean is NaN makes it NaN.
    public var foregroundMean: [String: Double] {
        let means = mean
        // One entry per summary.json key, as nnU-Net averages its keys.
        var keys = Set<String>()
        let foreground = labels.filter { $0.nnUNetKey != "0" && keys.insert($0.nnUNetKey).inserted }
        var out = [String: Double]()
        for key in Self.meanKeys {
            let values = foreground.map { means[$0.name]?[key] ?? .nan }
            out[key] = values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        }
        return out
    }

    /// Per label, cases whose HD95/ASSD are undefined because one side (or both) is empty.
    public var undefinedDistanceCounts: [String: Int] {
        var out = [String: Int]()
        for (index, label) in labels.enumerated() { out[label.name] = cases.filter { $0.scores[index].hd95 == nil }.count }
        return out
    }

    /// Per label: 2 · Σ intersections / Σ (prediction + reference volumes) over all cases, so that
    /// large structures weigh more (LiTS's "Dice global"); NaN when the label is empty everywhere.
    public var globalDice: [String: Double] {
        var out = [String: Double]()
        for (index, label) in labels.enumerated() {
            let intersections = cases.reduce(0) { $0 + $1.scores[index].tp }
            let volumes = cases.reduce(0) { $0 + $1.scores[index].nPred + $1.scores[index].nRef }
            out[label.name] = volumes == 0 ? .nan : Double(2 * intersections) / Double(volumes)
        }
        return out
    }

    /// numpy's nanmean: the sum of the defined values in order over their count.
    static func nanMean(_ values: [Double]) -> Double {
        let defined = values.filter { !$0.isNaN }
        return defined.isEmpty ? .nan : defined.reduce(0, +) / Double(defined.count)
    }
}
