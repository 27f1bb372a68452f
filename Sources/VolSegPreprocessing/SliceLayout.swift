/// Where the rows of one slice across `axis` lie in a row-major [D, H, W] volume: a slice across
/// axis 0 is [H, W], across 1 [D, W], across 2 [D, H] (its rows then run across the fast axis).
struct SliceLayout {
    let shape: [Int]
    let axis: Int

    /// Values per slice row: the slice's last axis.
    var rowLength: Int { axis == 2 ? shape[1] : shape[2] }

    /// Offset of the first value of `row` in slice `slice`, and the step between its values.
    func row(_ row: Int, slice: Int) -> (start: Int, step: Int) {
        let (height, width) = (shape[1], shape[2])
        switch axis {
        case 0: return ((slice * height + row) * width, 1)
        case 1: return ((row * height + slice) * width, 1)
        default: return (row * height * width + slice, width)
        }
    }
}
