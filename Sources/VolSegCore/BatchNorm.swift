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
    batchNormalization(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                       training: training, updateRunningStats: updateRunningStats, momentum: momentum, eps: eps,
                       slope: nil, name: "batch_norm")
}

/// BatchNorm, optionally followed by a (leaky) ReLU with `slope` in the same pass (`batchNormReLU`).
func batchNormalization(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                        training: Bool, updateRunningStats: Bool, momentum: Float, eps: Float,
                        slope: Float?, name: String) -> Tensor {
    let channels = x.rank >= 2 ? x.shape[1] : 0
    precondition(runningMean.count == channels && runningVar.count == channels,
                 "\(name): running statistics \(runningMean.shape)/\(runningVar.shape) for \(channels) channels of \(x.shape)")
    if !training {
        let planned = runningMean.isPlanned || runningVar.isPlanned
        if planned && !x.isPlanned {
            preconditionFailure("\(name): evaluation mode needs real running statistics")
        }
        let fixed = planned ? NormalizationStatistics(mean: [], variance: [])
            : NormalizationStatistics(mean: runningMean.toArray().map(Double.init),
                                      variance: runningVar.toArray().map(Double.init))
        return normalization(x, grouping: .batch, weight: weight, bias: bias, eps: eps, slope: slope,
                             fixed: fixed, name: name + "_eval").output
    }
    let layout = NormalizationLayout(shape: x.shape, grouping: .batch)
    let perChannel = BatchStatisticsSync.count(layout)
    precondition(perChannel > 1, "\(name): training needs more than one value per channel, got shape \(x.shape)")
    let result = normalization(x, grouping: .batch, weight: weight, bias: bias, eps: eps, slope: slope,
                               fixed: nil, name: name)
    if updateRunningStats, let stats = result.statistics, !runningMean.isPlanned, !runningVar.isPlanned {
        updateRunningStatistics(mean: runningMean, variance: runningVar, batch: stats, valuesPerChannel: perChannel,
                                momentum: momentum)
    }
    return result.output
}

/// PyTorch's running-statistics update from one batch's per-channel statistics (`batch`, biased
/// variance over `valuesPerChannel` values): new = (1 - momentum) * old + momentum * batch value,
/// the variance made unbiased (n / (n - 1)). Shared by `batchNorm` and the fused norm + SiLU.
func updateRunningStatistics(mean runningMean: Tensor, variance runningVar: Tensor, batch stats: NormalizationStatistics,
                             valuesPerChannel: Int, momentum: Float) {
    precondition(runningMean.count == stats.mean.count && runningVar.count == stats.mean.count,
                 "running statistics \(runningMean.shape)/\(runningVar.shape) for \(stats.mean.count) channels")
    let unbiased = Double(valuesPerChannel) / Double(valuesPerChannel - 1)
    let m = Double(momentum)
    for c in 0..<runningMean.count {
        runningMean.data[c] = Float((1 - m) * Double(runningMean.data[c]) + m * stats.mean[c])
        runningVar.data[c] = Float((1 - m) * Double(runningVar.data[c]) + m * stats.variance[c] * unbiased)
    }
}
