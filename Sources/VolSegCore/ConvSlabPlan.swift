import Foundation

/// Knobs of the convolution kernels, measured with `volseg bench kernels` (see KernelBenchmark).
public enum ConvTuning {
    /// The im2col scratch of one convolution call, in bytes, all workers together: panels (and the
    /// W-shifted path's C or gy buffer) are sized so their sum stays within it, so a convolution's
    /// scratch is bounded whatever the volume size. 8 MiB measured best on the benchmark's conv3d
    /// (4 MiB per worker: the panel stays in the 32 MiB L3 next to the other worker's).
    nonisolated(unsafe) public static var panelBudgetBytes = 8 << 20
    /// Stride-1-along-W convolutions use the W-shifted panel (`ConvShiftedGEMM`).
    nonisolated(unsafe) public static var shiftedPanel = true
    /// Each worker thread runs its own slabs with a single-threaded GEMM.
    nonisolated(unsafe) public static var workerGEMM = true
    /// Stride-1 convolutions run the direct kernel (`ConvDirect`) where it applies; the
    /// environment's `VOLSEG_CONV=gemm` turns it off for the run.
    nonisolated(unsafe) public static var directKernel = ProcessInfo.processInfo.environment["VOLSEG_CONV"]?.lowercased() != "gemm"
}

/// How a convolution's output rows are cut into slabs whose im2col panel fits the budget.
struct ConvSlabPlan {
    let rowsPerSlab: Int
    let totalRows: Int
    let columnsPerRow: Int
    let patchSize: Int

    init(_ g: ConvGeometry, budgetBytes: Int = ConvTuning.panelBudgetBytes) {
        totalRows = g.outputRows
        columnsPerRow = g.output[2]
        patchSize = g.patchSize
        let bytesPerRow = max(1, patchSize * columnsPerRow * MemoryLayout<Float>.stride)
        let fitting = max(1, budgetBytes / bytesPerRow)
        // Equal slabs: a short last slab would be a small, inefficient GEMM.
        let slabCount = max(1, (totalRows + fitting - 1) / fitting)
        rowsPerSlab = max(1, (totalRows + slabCount - 1) / slabCount)
    }

    /// Floats in one panel (the scratch to allocate).
    var panelCount: Int { patchSize * min(rowsPerSlab, totalRows) * columnsPerRow }

    var slabs: [Range<Int>] {
        stride(from: 0, to: totalRows, by: rowsPerSlab).map { $0..<min(totalRows, $0 + rowsPerSlab) }
    }
}
