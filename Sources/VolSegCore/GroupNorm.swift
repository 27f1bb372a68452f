import Foundation

/// Group normalisation over `[N, C, ...]`: the channels of each sample are split into `groups`
/// runs of C / groups neighbours, each normalised with its own mean and biased variance, then the
/// per-channel affine map (`weight`, `bias`, either may be nil). As PyTorch's `GroupNorm`.
public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    precondition(x.rank >= 2 && groups > 0 && x.shape[1] % groups == 0,
                 "groupNorm: \(x.rank >= 2 ? x.shape[1] : 0) channels of \(x.shape) do not split into \(groups) groups")
    return normalization(x, grouping: .groups(groups), weight: weight, bias: bias, eps: eps, slope: nil,
                         fixed: nil, name: "group_norm").output
}
