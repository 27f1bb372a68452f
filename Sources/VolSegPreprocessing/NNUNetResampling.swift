import Foundation
import VolSegCore

/// nnU-Net v2's default resampling of images and logits (nnunetv2/preprocessing/resampling/
/// default_resampling.py, `is_seg=False`), reproduced so that a model trained by nnU-Net sees the
/// input it was trained on and exports the logits `nnUNetv2_predict` would: the preprocessor
/// calls `resampleToShape` with order 3 (order 0 along thick slices), the exporter with order 1.
///
/// Spacings and shapes are in the data's axis order ([D, H, W] for [C, D, H, W], which is
/// nnU-Net's transposed (x, y, z) after its `transpose_forward`), not NIfTI's (x, y, z).
/// Values are computed in Float64 as nnU-Net does (it casts to float) and stored as Float32.
public enum NNUNetResampling {
    /// `nnunetv2.configuration.ANISO_THRESHOLD`: above this ratio of largest to smallest spacing
    /// the low-resolution axis is resampled on its own.
    public static let anisotropyThreshold = 3.0

    /// `compute_new_shape`: round(old spacing / new spacing * old size) per axis, with Python's
    /// round (halves to even: 2.5 -> 2, 3.5 -> 4) on the same Float64 steps.
    public static func newShape(oldShape: [Int], oldSpacing: [Double], newSpacing: [Double]) -> [Int] {
        precondition(oldShape.count == oldSpacing.count && oldShape.count == newSpacing.count,
                     "shape \(oldShape), spacings \(oldSpacing) and \(newSpacing) must have one entry per axis")
        return (0..<oldShape.count).map { i in
            Int((oldSpacing[i] / newSpacing[i] * Double(oldShape[i])).rounded(.toNearestOrEven))
        }
    }

    /// `determine_do_sep_z_and_axis`: whether to resample the low-resolution axis separately, and
    /// which one. `force` nil decides from the anisotropy of the current spacing, then of the new
    /// one; true takes the axis of the current spacing; false never separates. When two or three
    /// axes share the largest spacing (e.g. (0.24, 1.25, 1.25)) there is no single slice axis and
    /// nothing is separated, forced or not.
    public static func separateZ(force: Bool?, currentSpacing: [Double], newSpacing: [Double],
                                 threshold: Double = anisotropyThreshold) -> (separate: Bool, axis: Int?) {
        let separate: Bool
        let candidates: [Int]?
        if let force {
            separate = force
            candidates = force ? lowResolutionAxes(currentSpacing) : nil
        } else if isAnisotropic(currentSpacing, threshold: threshold) {
            (separate, candidates) = (true, lowResolutionAxes(currentSpacing))
        } else if isAnisotropic(newSpacing, threshold: threshold) {
            (separate, candidates) = (true, lowResolutionAxes(newSpacing))
        } else {
            (separate, candidates) = (false, nil)
        }
        guard let candidates else { return (separate, nil) }
        guard candidates.count == 1 else { return (false, nil) }
        return (separate, candidates[0])
    }

    /// `get_do_separate_z`: max / min spacing above the threshold.
    static func isAnisotropic(_ spacing: [Double], threshold: Double) -> Bool {
        spacing.max()! / spacing.min()! > threshold
    }

    /// `get_lowres_axis`: the axes where max / spacing == 1, in Float64 as numpy compares them.
    static func lowResolutionAxes(_ spacing: [Double]) -> [Int] {
        let largest = spacing.max()!
        return spacing.indices.filter { largest / spacing[$0] == 1 }
    }

    /// `resample_data_or_seg_to_shape` with `is_seg=False`: the separation decision from the
    /// spacings, then `resample`. Plans pass `forceSeparateZ: nil` (nnU-Net's function defaults to false).
    public static func resampleToShape(_ data: Tensor, newShape: [Int], currentSpacing: [Double], newSpacing: [Double],
                                       order: Int = 3, orderZ: Int = 0, forceSeparateZ: Bool?) -> Tensor {
        precondition(data.rank == 4 && currentSpacing.count == 3 && newSpacing.count == 3,
                     "data [C, D, H, W] and spacings of 3 axes, got \(data.shape), \(currentSpacing), \(newSpacing)")
        let (separate, axis) = separateZ(force: forceSeparateZ, currentSpacing: currentSpacing, newSpacing: newSpacing)
        return resample(data, to: newShape, axis: axis, order: order, separateZ: separate, orderZ: orderZ)
    }

    /// `resample_data_or_seg` with `is_seg=False`: [C, D, H, W] (or [C, H, W], always joint) to
    /// `newShape` per channel. Joint: one `SplineZoom` of `order` per channel, clipped to the
    /// channel's range. Separate: each slice across `axis` zoomed in 2D with `order` (clipped to
    /// that slice's range), then `orderZ` along `axis` without clipping. Returns `data` itself when
    /// the shape does not change, as nnU-Net does.
    ///
    /// Memory beyond input and output: one Float64 working array at a time, the padded
    /// coefficients of one channel (joint, order > 1) or the in-plane result of one channel
    /// (separate, when `axis` changes length), plus small per-thread buffers.
    public static func resample(_ data: Tensor, to newShape: [Int], axis: Int?, order: Int = 3,
                                separateZ: Bool, orderZ: Int = 0) -> Tensor {
        let spatial = Array(data.shape.dropFirst())
        precondition((data.rank == 4 || data.rank == 3) && newShape.count == spatial.count && newShape.allSatisfy { $0 > 0 },
                     "resample takes [C, D, H, W] or [C, H, W] to a positive shape of the same rank, got \(data.shape) -> \(newShape)")
        precondition((0...3).contains(order) && (0...3).contains(orderZ), "spline orders \(order), \(orderZ) must be 0...3")
        if spatial == newShape { return data }
        let out = Tensor.empty([data.shape[0]] + newShape, planned: data.isPlanned)
        if data.isPlanned {
            planWorkingMemory(from: spatial, to: newShape, axis: separateZ ? axis : nil, order: order, orderZ: orderZ)
            return out
        }
        if separateZ {
            precondition(data.rank == 4, "separate resampling needs [C, D, H, W], got \(data.shape)")
            guard let axis, (0..<3).contains(axis) else { preconditionFailure("separate resampling needs an axis 0...2, got \(String(describing: axis))") }
            resampleSeparately(data, into: out, axis: axis, order: order, orderZ: orderZ)
        } else {
            resampleJointly(data, into: out, order: order)
        }
        return out
    }

    /// What `resample` adds to the ledger beside its output, for a planned run: the whole-volume
    /// zoom's coefficients (joint), or the in-plane result and the z step's coefficients (separate,
    /// when `axis` changes length). Per-slice zooms stay outside the ledger (see `SplineZoom`).
    private static func planWorkingMemory(from shape: [Int], to newShape: [Int], axis: Int?, order: Int, orderZ: Int) {
        guard let axis else {
            withExtendedLifetime(SplineZoom(from: shape, to: newShape, order: order).plannedWorkingMemory()) {}
            return
        }
        guard shape[axis] != newShape[axis] else { return }
        var inPlaneShape = newShape
        inPlaneShape[axis] = shape[axis]
        let inPlaneResult = ScratchBuffer<Double>(count: inPlaneShape.reduce(1, *), planned: true)
        let zStep = SplineZoom(from: inPlaneShape, to: newShape, order: orderZ, clipsToInputRange: false)
        withExtendedLifetime((inPlaneResult, zStep.plannedWorkingMemory())) {}
    }

    /// One zoom per channel over all axes; the channel's planes spread over the threads.
    private static func resampleJointly(_ data: Tensor, into out: Tensor, order: Int) {
        let spatial = Array(data.shape.dropFirst()), newShape = Array(out.shape.dropFirst())
        let zoom = SplineZoom(from: spatial, to: newShape, order: order)
        let inputVolume = spatial.reduce(1, *), outputVolume = newShape.reduce(1, *)
        let (height, width) = (newShape[newShape.count - 2], newShape[newShape.count - 1])
        for c in 0..<data.shape[0] {
            let target = out.data + c * outputVolume
            zoom.resize(UnsafePointer(data.data + c * inputVolume), parallel: true) { plane, row, values in
                let line = target + (plane * height + row) * width
                for x in 0..<width { line[x] = Float(values[x]) }
            }
        }
    }

    /// nnU-Net's `do_separate_z` branch: 2D zooms of the slices across `axis`, then the z step.
    private static func resampleSeparately(_ data: Tensor, into out: Tensor, axis: Int, order: Int, orderZ: Int) {
        let shape = Array(data.shape.dropFirst()), newShape = Array(out.shape.dropFirst())
        let inPlane = [0, 1, 2].filter { $0 != axis }
        let slices = SliceLayout(shape: shape, axis: axis)
        let sliceZoom = SplineZoom(from: inPlane.map { shape[$0] }, to: inPlane.map { newShape[$0] }, order: order)
        var inPlaneShape = newShape
        inPlaneShape[axis] = shape[axis]
        let resliced = SliceLayout(shape: inPlaneShape, axis: axis)
        let inputVolume = shape.reduce(1, *), outputVolume = newShape.reduce(1, *)
        let channels = data.shape[0]

        /// Zooms slice `s` of channel `c`, handing each output row to `store(row, values)`.
        func zoomSlice(_ c: Int, _ s: Int, store: (Int, UnsafePointer<Double>) -> Void) {
            let source = data.data + c * inputVolume
            sliceZoom.resize(parallel: false, loadRow: { _, row, destination in
                let (start, step) = slices.row(row, slice: s)
                for i in 0..<slices.rowLength { destination[i] = Double(source[start + i * step]) }
            }, store: { _, row, values in store(row, values) })
        }

        if shape[axis] == newShape[axis] {
            // nnU-Net copies the in-plane result (Float64) into the Float32 output: go there directly.
            Parallel.forEach(channels * shape[axis]) { task in
                let c = task / shape[axis], s = task % shape[axis]
                let target = out.data + c * outputVolume
                zoomSlice(c, s) { row, values in
                    let (start, step) = resliced.row(row, slice: s)
                    for i in 0..<resliced.rowLength { target[start + i * step] = Float(values[i]) }
                }
            }
            return
        }
        // map_coordinates with order_z, mode 'nearest', at (o + 0.5) * in / out - 0.5 along `axis`
        // and the integer grid elsewhere: a zoom along `axis` alone, not clipped.
        let zStep = SplineZoom(from: inPlaneShape, to: newShape, order: orderZ, clipsToInputRange: false)
        let (height, width) = (newShape[1], newShape[2])
        let inPlaneBuffer = ScratchBuffer<Double>(count: inPlaneShape.reduce(1, *), planned: false)
        let inPlaneResult = inPlaneBuffer.pointer!
        defer { withExtendedLifetime(inPlaneBuffer) {} }
        for c in 0..<channels {
            Parallel.forEach(shape[axis]) { s in
                zoomSlice(c, s) { row, values in
                    let (start, step) = resliced.row(row, slice: s)
                    for i in 0..<resliced.rowLength { inPlaneResult[start + i * step] = values[i] }
                }
            }
            let target = out.data + c * outputVolume
            zStep.resize(UnsafePointer(inPlaneResult), parallel: true) { plane, row, values in
                let line = target + (plane * height + row) * width
                for x in 0..<width { line[x] = Float(values[x]) }
            }
        }
    }
}
