import Foundation

/// Instance normalisation over `[N, C, ...]`: every (sample, channel) plane is normalised with its
/// own mean and biased variance, then scaled by `weight` and shifted by `bias` per channel (either
/// may be nil: no affine part). nnU-Net's and STU-Net's norm; it has no running statistics.
public func instanceNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    normalization(x, grouping: .instance, weight: weight, bias: bias, eps: eps, slope: nil, fixed: nil,
                  name: "instance_norm").output
}

/// `instanceNorm` followed by `leakyReLU(slope:)` in one op: one pass over x for the statistics and
/// one to normalise and activate, instead of three passes and an intermediate tensor. The U-Nets
/// run this after every convolution. Backward keeps one tensor: the output y when it determines
/// x - mean (it does unless a channel's gamma is tiny next to its beta; see `SavedPlanes`), else x,
/// and recomputes the activation's branch from it.
public func instanceNormLeakyReLU(_ x: Tensor, weight: Tensor?, bias: Tensor?, slope: Float = 0.01,
                                  eps: Float = 1e-5) -> Tensor {
    normalization(x, grouping: .instance, weight: weight, bias: bias, eps: eps, slope: slope, fixed: nil,
                  name: "instance_norm_leaky_relu").output
}

/// `instanceNormLeakyReLU` written over x, for inference (under `withNoGrad`) when x is a
/// temporary nobody else holds, such as the convolution output just before it: a conv + norm pair
/// then needs one full-size tensor instead of two, which is what bounds one-piece inference on
/// large volumes.
public func instanceNormLeakyReLUOverwriting(_ x: Tensor, weight: Tensor?, bias: Tensor?, slope: Float = 0.01,
                                             eps: Float = 1e-5) -> Tensor {
    normalization(x, grouping: .instance, weight: weight, bias: bias, eps: eps, slope: slope, fixed: nil,
                  name: "instance_norm_leaky_relu", overwritingInput: true).output
}
