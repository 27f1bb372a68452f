import Foundation

/// `batchNorm` followed by ReLU in one op, as DenseNet's pre-activation layers (BN, ReLU, conv)
/// run it. In a dense block the norm's input is the ever-growing concatenation of features: the
/// fused op keeps only that input for backward and writes one output, where BN then ReLU would
/// keep the input, the normalised copy and the activated copy. Same arguments and running-statistic
/// rule as `batchNorm`.
public func batchNormReLU(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                          training: Bool, updateRunningStats: Bool, momentum: Float = 0.1,
                          eps: Float = 1e-5) -> Tensor {
    let channels = x.rank >= 2 ? x.shape[1] : 0
    precondition(runningMean.count == channels && runningVar.count == channels,
                 "batchNormReLU: running statistics \(runningMean.shape)/\(runningVar.shape) for \(channels) channels of \(x.shape)")
    if !training {
        let planned = runningMean.isPlanned || runningVar.isPlanned
        if planned && !x.isPlanned {
            preconditionFailure("batchNormReLU: evaluation mode needs real running statistics")
        }
        let fixed = planned ? NormalizationStatistics(mean: [], variance: [])
            : NormalizationStatistics(mean: runningMean.toArray().map(Double.init),
                                      variance: runningVar.toArray().map(Double.init))
        return normalization(x, grouping: .batch, weight: weight, bias: bias, eps: eps, slope: 0,
                             fixed: fixed, name: "batch_norm_relu_eval").output
    }
    let layout = NormalizationLayout(shape: x.shape, grouping: .batch)
    let perChannel = layout.elementsPerStatistic
    precondition(perChannel > 1, "batchNormReLU: training needs more than one value per channel, got shape \(x.shape)")
    let result = normalization(x, grouping: .batch, weight: weight, bias: bias, eps: eps, slope: 0,
                               fixed: nil, name: "batch_norm_relu")
    if updateRunningStats, let stats = result.statistics, !runningMean.isPlanned, !runningVar.isPlanned {
        // PyTorch's rule: new = (1 - momentum) old + momentum batch, the variance unbiased.
        let unbiased = Double(perChannel) / Double(perChannel - 1)
        let m = Double(momentum)
        for c in 0..<channels {
            runningMean.data[c] = Float((1 - m) * Double(runningMean.data[c]) + m * stats.mean[c])
            runningVar.data[c] = Float((1 - m) * Double(runningVar.data[c]) + m * stats.variance[c] * unbiased)
        }
    }
    return result.output
}
