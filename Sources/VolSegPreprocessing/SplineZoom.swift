import Foundation
import VolSegCore

/// B-spline resizing of one 2D or 3D array to a new shape over the same extent, as nnU-Net v2
/// calls `skimage.transform.resize(x, shape, order, mode="edge", anti_aliasing=False)` on Float64:
/// `scipy.ndimage.zoom(grid_mode=True, mode="nearest")` (voxel centres aligned, edge voxels
/// repeated outside), with the B-spline prefilter after 12 voxels of edge padding for order > 1,
/// then clipped to the input's range (skimage's `clip=True`; nnU-Net's z step, a
/// `map_coordinates`, does not clip). Orders 0...3: nnU-Net uses 3 for images, 1 for the logits it
/// exports and 0 along thick slices.
///
/// Work and memory: the evaluation is separable (one output plane at a time: the D taps sum
/// whole padded planes, then H, then W), ~12 multiply-adds per output voxel for order 3 instead of
/// scipy's 64. Order > 1 needs one padded Float64 copy of the input (the coefficients); orders 0
/// and 1 read the input directly. Shapes are [D, H, W] or [H, W], row-major.
public struct SplineZoom: Sendable {
    public let inputShape: [Int]
    public let outputShape: [Int]
    public let order: Int
    public let clipsToInputRange: Bool
    /// D, H, W; a 2D shape is read as one plane.
    let axes: [SplineZoomAxis]

    public init(from inputShape: [Int], to outputShape: [Int], order: Int, clipsToInputRange: Bool = true) {
        precondition((2...3).contains(inputShape.count) && inputShape.count == outputShape.count,
                     "SplineZoom takes 2D or 3D shapes of the same rank, got \(inputShape) -> \(outputShape)")
        self.inputShape = inputShape
        self.outputShape = outputShape
        self.order = order
        self.clipsToInputRange = clipsToInputRange
        let input = inputShape.count == 2 ? [1] + inputShape : inputShape
        let output = outputShape.count == 2 ? [1] + outputShape : outputShape
        axes = (0..<3).map { SplineZoomAxis(input: input[$0], output: output[$0], order: order) }
    }

    /// Whether the input must be copied into padded, prefiltered Float64 coefficients first.
    var needsCoefficients: Bool { axes.contains { $0.padding > 0 } }

    var coefficientCount: Int { axes.reduce(1) { $0 * $1.paddedCount } }

    /// What a whole-volume (parallel) resize adds to the memory ledger while it runs, as planned
    /// storage: nil when it needs no coefficients. Keep it alive where the real resize would run.
    package func plannedWorkingMemory() -> ScratchBuffer<Double>? {
        needsCoefficients ? ScratchBuffer<Double>(count: coefficientCount, planned: true) : nil
    }

    /// The resized array, computed on all threads.
    public func callAsFunction(_ input: [Double]) -> [Double] {
        precondition(input.count == inputShape.reduce(1, *), "\(input.count) values for the shape \(inputShape)")
        var output = [Double](repeating: 0, count: outputShape.reduce(1, *))
        let width = axes[2].outputCount, height = axes[1].outputCount
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                let out = target.baseAddress!
                resize(source.baseAddress!, parallel: true) { plane, row, values in
                    (out + (plane * height + row) * width).update(from: values, count: width)
                }
            }
        }
        return output
    }

    /// Resizes a contiguous array; `store(plane, row, values)` receives each output row (W values),
    /// from several threads at once when `parallel`.
    func resize<Source: BinaryFloatingPoint>(_ source: UnsafePointer<Source>, parallel: Bool,
                                             store: (Int, Int, UnsafePointer<Double>) -> Void) {
        let (depth, height, width) = (axes[0].inputCount, axes[1].inputCount, axes[2].inputCount)
        if needsCoefficients {
            resize(parallel: parallel, loadRow: { plane, row, destination in
                let line = source + (plane * height + row) * width
                for x in 0..<width { destination[x] = Double(line[x]) }
            }, store: store)
            return
        }
        let range = clipsToInputRange ? SplineZoom.range(source, count: depth * height * width, parallel: parallel) : nil
        evaluate(source, range: range, parallel: parallel, store: store)
    }

    /// Resizes an array handed over row by row: `loadRow(plane, row, destination)` writes the W
    /// input values of one row (it may be called from several threads). Used where the input is
    /// not contiguous, such as a slice across the fast axis.
    func resize(parallel: Bool, loadRow: (Int, Int, UnsafeMutablePointer<Double>) -> Void,
                store: (Int, Int, UnsafePointer<Double>) -> Void) {
        // A whole volume's coefficients (parallel) can be gigabytes: they go through the memory
        // ledger. One slice's (a zoom per slice on each thread) stay in malloc: small, and a
        // ledger count that depended on how the threads overlap could not be planned exactly.
        let tracked = parallel ? ScratchBuffer<Double>(count: coefficientCount, planned: false) : nil
        let coefficients = tracked?.pointer ?? UnsafeMutablePointer<Double>.allocate(capacity: coefficientCount)
        defer { if tracked == nil { coefficients.deallocate() } }
        let range = fillPadded(coefficients, parallel: parallel, loadRow: loadRow)
        prefilter(coefficients, parallel: parallel)
        evaluate(UnsafePointer(coefficients), range: clipsToInputRange ? range : nil, parallel: parallel, store: store)
    }

    /// The input on the padded grid, edge values repeated into the padding (`np.pad(mode="edge")`);
    /// returns the input's range, which skimage clips to.
    private func fillPadded(_ c: UnsafeMutablePointer<Double>, parallel: Bool,
                            loadRow: (Int, Int, UnsafeMutablePointer<Double>) -> Void) -> ClosedRange<Double> {
        let (depth, height, width) = (axes[0].inputCount, axes[1].inputCount, axes[2].inputCount)
        let (pd, ph, pw) = (axes[0].padding, axes[1].padding, axes[2].padding)
        let (hp, wp) = (axes[1].paddedCount, axes[2].paddedCount)
        let planeSize = hp * wp
        let lock = NSLock()
        var low = Double.infinity, high = -Double.infinity
        SplineZoom.forEach(depth, parallel: parallel) { z in
            let plane = c + (z + pd) * planeSize
            var planeLow = Double.infinity, planeHigh = -Double.infinity
            for y in 0..<height {
                let row = plane + (y + ph) * wp
                loadRow(z, y, row + pw)
                for x in 0..<width {
                    planeLow = Swift.min(planeLow, row[pw + x])
                    planeHigh = Swift.max(planeHigh, row[pw + x])
                }
                for x in 0..<pw {
                    row[x] = row[pw]
                    row[pw + width + x] = row[pw + width - 1]
                }
            }
            for y in 0..<ph {
                (plane + y * wp).update(from: plane + ph * wp, count: wp)
                (plane + (ph + height + y) * wp).update(from: plane + (ph + height - 1) * wp, count: wp)
            }
            lock.lock()
            low = Swift.min(low, planeLow)
            high = Swift.max(high, planeHigh)
            lock.unlock()
        }
        for z in 0..<pd {
            (c + z * planeSize).update(from: c + pd * planeSize, count: planeSize)
            (c + (pd + depth + z) * planeSize).update(from: c + (pd + depth - 1) * planeSize, count: planeSize)
        }
        return low...high
    }

    /// scipy's `spline_filter`: axis 0, then 1, then 2, each line on its own. Only padded axes
    /// are filtered (see `SplineZoomAxis`: the others are sampled at their knots).
    private func prefilter(_ c: UnsafeMutablePointer<Double>, parallel: Bool) {
        let (dp, hp, wp) = (axes[0].paddedCount, axes[1].paddedCount, axes[2].paddedCount)
        let planeSize = hp * wp
        if axes[0].padding > 0 {
            // Lines along D, in bundles of 64 neighbouring columns: the recursion's inner loop runs
            // over contiguous memory, and a bundle's lines (64 x D doubles) stay in cache through
            // the filter's five passes, where a bundle of a whole thread's share went to memory.
            // With the row bundles below: 4x128^3 -> 160^3 order 3 went from 9.7x to 3.0x the time
            // of `Resampler.trilinear` in the same `volseg bench kernels` run.
            SplineZoom.forEachChunk(planeSize, minimumChunk: 512, parallel: parallel) { columns in
                for start in Swift.stride(from: columns.lowerBound, to: columns.upperBound, by: 64) {
                    SplinePrefilter.filterLines(c + start, length: dp, stride: planeSize,
                                                width: Swift.min(64, columns.upperBound - start), order: order)
                }
            }
        }
        if axes[1].padding > 0 {
            SplineZoom.forEach(dp, parallel: parallel) { z in
                SplinePrefilter.filterLines(c + z * planeSize, length: hp, stride: wp, width: wp, order: order)
            }
        }
        if axes[2].padding > 0 {
            // Rows are filtered 16 at a time, transposed into a small buffer: one contiguous row is
            // a chain of dependent multiply-adds, while 16 side by side are independent and vectorise.
            let bundle = 16
            SplineZoom.forEachChunk(dp * hp, minimumChunk: 4 * bundle, parallel: parallel) { rows in
                withUnsafeTemporaryAllocation(of: Double.self, capacity: bundle * wp) { buffer in
                    let transposed = buffer.baseAddress!
                    for first in Swift.stride(from: rows.lowerBound, to: rows.upperBound, by: bundle) {
                        let count = Swift.min(bundle, rows.upperBound - first), block = c + first * wp
                        for j in 0..<count { for i in 0..<wp { transposed[i * count + j] = block[j * wp + i] } }
                        SplinePrefilter.filterLines(transposed, length: wp, stride: count, width: count, order: order)
                        for j in 0..<count { for i in 0..<wp { block[j * wp + i] = transposed[i * count + j] } }
                    }
                }
            }
        }
    }

    /// The separable sum over the taps, one output plane at a time, clipped to `range` if given.
    private func evaluate<Source: BinaryFloatingPoint>(_ c: UnsafePointer<Source>, range: ClosedRange<Double>?,
                                                       parallel: Bool, store: (Int, Int, UnsafePointer<Double>) -> Void) {
        let (az, ay, ax) = (axes[0], axes[1], axes[2])
        let (hp, wp) = (ay.paddedCount, ax.paddedCount)
        let (depth, height, width) = (az.outputCount, ay.outputCount, ax.outputCount)
        let planeSize = hp * wp
        // A kept D axis of Float64 coefficients needs no sum: its planes are read in place.
        let readsPlanesInPlace = az.inputCount == az.outputCount && Source.self == Double.self
        let (low, high) = (range?.lowerBound ?? -Double.infinity, range?.upperBound ?? Double.infinity)
        az.index.withUnsafeBufferPointer { zIndex in az.weight.withUnsafeBufferPointer { zWeight in
        ay.index.withUnsafeBufferPointer { yIndex in ay.weight.withUnsafeBufferPointer { yWeight in
        ax.index.withUnsafeBufferPointer { xIndex in ax.weight.withUnsafeBufferPointer { xWeight in
            SplineZoom.forEachChunk(depth, minimumChunk: 1, parallel: parallel) { planes in
                let scratch = UnsafeMutablePointer<Double>.allocate(capacity: (readsPlanesInPlace ? 0 : planeSize) + wp + width)
                defer { scratch.deallocate() }
                let line = scratch + (readsPlanesInPlace ? 0 : planeSize), values = line + wp
                for z in planes {
                    let plane: UnsafePointer<Double>
                    if readsPlanesInPlace {
                        plane = UnsafeRawPointer(c + z * planeSize).assumingMemoryBound(to: Double.self)
                    } else {
                        let first = z * az.taps
                        let source0 = c + zIndex[first] * planeSize, w0 = zWeight[first]
                        for i in 0..<planeSize { scratch[i] = w0 * Double(source0[i]) }
                        for t in 1..<az.taps {
                            let source = c + zIndex[first + t] * planeSize, w = zWeight[first + t]
                            for i in 0..<planeSize { scratch[i] += w * Double(source[i]) }
                        }
                        plane = UnsafePointer(scratch)
                    }
                    for y in 0..<height {
                        let first = y * ay.taps
                        let row0 = plane + yIndex[first] * wp, w0 = yWeight[first]
                        for i in 0..<wp { line[i] = w0 * row0[i] }
                        for t in 1..<ay.taps {
                            let row = plane + yIndex[first + t] * wp, w = yWeight[first + t]
                            for i in 0..<wp { line[i] += w * row[i] }
                        }
                        for x in 0..<width {
                            let first = x * ax.taps
                            var sum = 0.0
                            for t in 0..<ax.taps { sum += xWeight[first + t] * line[xIndex[first + t]] }
                            // np.clip: minimum(maximum(v, low), high).
                            values[x] = Swift.min(Swift.max(sum, low), high)
                        }
                        store(z, y, UnsafePointer(values))
                    }
                }
            }
        }}}}}}
    }

    /// The input's range (skimage clips to np.min ... np.max of the resize input).
    static func range<Source: BinaryFloatingPoint>(_ values: UnsafePointer<Source>, count: Int, parallel: Bool) -> ClosedRange<Double> {
        let lock = NSLock()
        var low = Double.infinity, high = -Double.infinity
        SplineZoom.forEachChunk(count, minimumChunk: 1 << 16, parallel: parallel) { chunk in
            var chunkLow = Source.infinity, chunkHigh = -Source.infinity
            for i in chunk {
                chunkLow = Swift.min(chunkLow, values[i])
                chunkHigh = Swift.max(chunkHigh, values[i])
            }
            lock.lock()
            low = Swift.min(low, Double(chunkLow))
            high = Swift.max(high, Double(chunkHigh))
            lock.unlock()
        }
        return low...high
    }

    /// Callers that already spread work over the threads (one 2D slice per task) run a zoom serially.
    static func forEach(_ count: Int, parallel: Bool, _ body: (Int) -> Void) {
        if parallel { Parallel.forEach(count, body) } else { for i in 0..<count { body(i) } }
    }

    static func forEachChunk(_ total: Int, minimumChunk: Int, parallel: Bool, _ body: (Range<Int>) -> Void) {
        if parallel { Parallel.forEachChunk(total, minimumChunk: minimumChunk, body) } else if total > 0 { body(0..<total) }
    }
}
