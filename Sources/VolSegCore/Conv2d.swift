import Foundation

/// 2D convolution of `x` [N, Cin, H, W] with `weight` [Cout, Cin / groups, kH, kW]: the 3D
/// convolution with a depth of 1 (the reshapes share storage and carry the gradients).
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1],
                   padding: [Int] = [0], groups: Int = 1) -> Tensor {
    precondition(x.rank == 4, "conv2d: input must be [N, C, H, W], got \(x.shape)")
    precondition(weight.rank == 4, "conv2d: weight must be [Cout, Cin/groups, kH, kW], got \(weight.shape)")
    let strides = stride.count == 1 ? [stride[0], stride[0]] : stride
    let pads = padding.count == 1 ? [padding[0], padding[0]] : padding
    precondition(strides.count == 2 && pads.count == 2, "conv2d: stride \(stride) and padding \(padding) need 1 or 2 values")
    let x3 = x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2], x.shape[3]])
    let w3 = weight.reshaped([weight.shape[0], weight.shape[1], 1, weight.shape[2], weight.shape[3]])
    let y = conv3d(x3, weight: w3, bias: bias, stride: [1] + strides, padding: [0] + pads, groups: groups)
    return y.reshaped([y.shape[0], y.shape[1], y.shape[3], y.shape[4]])
}
