import Foundation

/// One axis of a `SplineZoom`: for every output index, the coefficient indices it reads and their
/// B-spline weights, computed with scipy's floating-point steps (`NI_ZoomShift` with
/// grid_mode=True and mode 'nearest', `get_spline_interpolation_weights`).
///
/// Order 0 is a centre-aligned nearest rule like Core's `NearestNeighbourRule.centreAligned`, but
/// not computed the same way: scipy rounds (o + 0.5) * (in / out) - 0.5 + 0.5 step by step, and at
/// exact halves (halving a grid puts every output centre between two inputs) only its own
/// sequence of roundings picks the same voxel (the upper one), so it stays here, beside the other
/// orders that share the coordinate.
struct SplineZoomAxis: Sendable {
    let inputCount: Int
    let outputCount: Int
    /// Edge voxels added before the prefilter on each side (scipy's 12, or 0 where nothing is filtered).
    let padding: Int
    /// Coefficients read per output index.
    let taps: Int
    /// `outputCount * taps` indices into the padded axis, already clamped to it.
    let index: [Int]
    let weight: [Double]

    /// scipy pads every axis by 12 and filters it when order > 1. An axis whose length does not
    /// change is sampled at the integer knots, where the spline through the coefficients returns
    /// the samples: filtering it and evaluating it cancel, so this axis is read as is (1 tap, weight
    /// 1), which is scipy's result without its rounding noise and a third of the work.
    init(input: Int, output: Int, order: Int) {
        precondition(input > 0 && output > 0, "an axis of \(input) -> \(output) voxels")
        precondition((0...3).contains(order), "spline order \(order) is not supported (0...3)")
        inputCount = input
        outputCount = output
        if input == output {
            padding = 0
            taps = 1
            index = Array(0..<output)
            weight = [Double](repeating: 1, count: output)
            return
        }
        padding = order > 1 ? 12 : 0
        taps = order + 1
        let padded = input + 2 * padding
        // numpy's int / int: the zoom factor in Float64, then ((o + 0.5) * zoom - 0.5) + pad.
        let zoom = Double(input) / Double(output)
        var index = [Int](), weight = [Double]()
        index.reserveCapacity(output * taps)
        weight.reserveCapacity(output * taps)
        var w = [Double](repeating: 0, count: taps)
        for o in 0..<output {
            var coordinate = Double(o)
            coordinate += 0.5
            coordinate *= zoom
            coordinate -= 0.5
            coordinate += Double(padding)
            let start = order & 1 == 1 ? Int((coordinate).rounded(.down)) - order / 2
                                       : Int((coordinate + 0.5).rounded(.down)) - order / 2
            // Mode 'nearest' clamps every tap to the array (map_coordinate with NI_EXTEND_NEAREST).
            for t in 0..<taps { index.append(min(max(start + t, 0), padded - 1)) }
            SplineZoomAxis.weights(at: coordinate, order: order, into: &w)
            weight.append(contentsOf: w)
        }
        self.index = index
        self.weight = weight
    }

    var paddedCount: Int { inputCount + 2 * padding }

    /// `get_spline_interpolation_weights` for orders 0...3, term for term: the last weight is 1
    /// minus the others, as scipy makes them sum to 1.
    static func weights(at coordinate: Double, order: Int, into w: inout [Double]) {
        if order == 0 { w[0] = 1; return }
        let x = coordinate - (order & 1 == 1 ? coordinate : coordinate + 0.5).rounded(.down)
        switch order {
        case 1:
            w[0] = 1.0 - x
        case 2:
            w[1] = 0.75 - x * x
            let y = 0.5 - x
            w[0] = 0.5 * y * y
        default:
            let y = x, z = 1.0 - x
            w[1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0
            w[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
            w[0] = z * z * z / 6.0
        }
        w[order] = 1.0
        for i in 0..<order { w[order] -= w[i] }
    }
}
