import Foundation

/// Batch normalisation over `[N, C, ...]`: each channel is normalised with statistics pooled over
/// the batch and all voxels (training) or with the running estimates (evaluation).
///
/// Mode and updating are separate, explicit arguments: a reversible network recomputes its forward
/// pass during backward in training mode, and must not move the running statistics a second time.
/// With `updateRunningStats`, `runningMean` and `runningVar` are updated in place as PyTorch does:
/// new = (1 - momentum) * old + momentum * batch value, the variance unbiased (n / (n - 1)).
/// In evaluation mode the statistics are constants and the gradient is that of an affine map.
public func batchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                      training: Bool, updateRunningStats: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
    let channels = x.rank >= 2 ? x.shape[1] : 0
    precondition(runningMean.count == channels && runningVar.count == channels,
                 "batchNorm: running statistics \(runningMean.shape)/\(runningVar.shape) for \(channels) channels of \(x.shape)")
    if !training {
        let planned = runningMean.isPlanned || runningVar.isPlanned
        let fixed = planned ? nil : NormalizationStatistics(mean: runningMean.toArray().map(Double.init),
                                                            variance: runningVar.toArray().map(Double.init))
        if fixed == nil && !x.isPlanned {
            preconditionFailure("batchNorm: evaluation mode needs real running statistics")
        }
        return normalization(x, grouping: .batch, weight: weight, bias: bias, eps: eps, slope: nil,
                             fixed: fixed ?? NormalizationStatistics(mean: [], variance: []),
                             name: "batch_norm_eval").output
    }
    let layout = NormalizationLayout(shape: x.shape, grouping: .batch)
    let perChannel = layout.elementsPerStatistic
    precondition(perChannel > 1, "batchNorm: training needs more than one value per channel, got shape \(x.shape)")
    let result = normalization(x, grouping: .batch, weight: weight, bias: bias, eps: eps, slope: nil,
                               fixed: nil, name: "batch_norm")
    if updateRunningStats, let stats = result.statistics, !runningMean.isPlanned, !runningVar.isPlanned {
        let unbiased = Double(perChannel) / Double(perChannel - 1)
        let m = Double(momentum)
        for c in 0..<channels {
            runningMean.data[c] = Float((1 - m) * Double(runningMean.data[c]) + m * stats.mean[c])
            runningVar.data[c] = Float((1 - m) * Double(runningVar.data[c]) + m * stats.variance[c] * unbiased)
        }
    }
    return result.output
}
