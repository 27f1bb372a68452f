/// scipy's `binary_fill_holes` with its default structure (face connectivity): background voxels
/// that cannot reach the grid's border through background faces are set. nnU-Net fills the
/// nonzero mask this way before it normalises inside it, so a dark region enclosed by the brain
/// counts as brain.
public enum BinaryHoleFilling {
    /// 1 where `mask` is nonzero or enclosed by it; shape [D, H, W].
    public static func filled(_ mask: [UInt8], shape: [Int]) -> [UInt8] {
        precondition(shape.count == 3 && mask.count == shape.reduce(1, *), "hole filling takes a [D, H, W] mask")
        let background = mask.map { $0 == 0 ? UInt8(1) : 0 }
        let components = background.withUnsafeBufferPointer {
            ConnectedComponents(mask: $0.baseAddress, shape: shape, connectivity: .faces)
        }
        let (nd, nh, nw) = (shape[0], shape[1], shape[2])
        var reachesBorder = [Bool](repeating: false, count: components.count)
        func mark(_ z: Int, _ y: Int, _ x: Int) {
            if let c = components.component(at: (z * nh + y) * nw + x) { reachesBorder[c] = true }
        }
        for z in 0..<nd {
            for y in 0..<nh {
                if z == 0 || z == nd - 1 || y == 0 || y == nh - 1 {
                    for x in 0..<nw { mark(z, y, x) }
                } else {
                    mark(z, y, 0)
                    mark(z, y, nw - 1)
                }
            }
        }
        var out = mask.map { $0 != 0 ? UInt8(1) : 0 }
        for i in out.indices where out[i] == 0 {
            if let c = components.component(at: i), !reachesBorder[c] { out[i] = 1 }
        }
        return out
    }
}
