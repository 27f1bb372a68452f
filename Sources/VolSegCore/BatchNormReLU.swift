import Foundation

/// `batchNorm` followed by ReLU in one op, as DenseNet's pre-activation layers (BN, ReLU, conv)
/// run it. In a dense block the norm's input is the ever-growing concatenation of features: the
/// fused op keeps only that input for backward and writes one output, where BN then ReLU would
/// keep the input, the normalised copy and the activated copy. Same arguments and running-statistic
/// rule as `batchNorm`.
public func batchNormReLU(_ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                          training: Bool, updateRunningStats: Bool, momentum: Float = 0.1,
                          eps: Float = 1e-5) -> Tensor {
    batchNormalization(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                       training: training, updateRunningStats: updateRunningStats, momentum: momentum, eps: eps,
                       slope: 0, name: "batch_norm_relu")
}
