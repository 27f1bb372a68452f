import Foundation

/// `volseg train --sync-batchnorm`: BatchNorm's training statistics taken over the batches of all
/// ranks of a data-parallel run (PyTorch's SyncBatchNorm), instead of each rank's own, which for a
/// per-rank batch of 1 or 2 are too noisy. Instance and group norms are per sample and never
/// synchronise.
///
/// The scope is process-wide, set by the trainer around its epochs, because BatchNorm statistics
/// are computed in three kernels (the plain norm, its fused LeakyReLU form, MBConv's fused
/// norm + SiLU, forward and recomputation) reached from every model; threading the group through
/// each model's constructors would touch all of them for one setting of one run.
///
/// Every rank has the same patch and batch (the trainer checks the plans agree), so each rank's
/// statistic covers the same number of values and the combined ones are plain means over ranks.
public enum BatchStatisticsSync {
    nonisolated(unsafe) private static var scope: (any ProcessGroup)?

    /// Runs `body` with BatchNorm statistics over `ranks` (nil or one rank: this process's batch).
    public static func run<T>(over ranks: (any ProcessGroup)?, _ body: () throws -> T) rethrows -> T {
        let previous = scope
        scope = (ranks?.size ?? 1) > 1 ? ranks : nil
        defer { scope = previous }
        return try body()
    }

    /// The ranks a layout's statistics span: BatchNorm's, inside a synchronised scope.
    static func ranks(for layout: NormalizationLayout) -> (any ProcessGroup)? {
        layout.grouping == .batch ? scope : nil
    }

    /// Mean and biased variance of every statistic over all ranks' batches: the mean of the ranks'
    /// means, and the mean of each rank's variance plus its mean's squared distance from that
    /// (the parallel-variance rule; no E[x²] - E[x]² cancellation).
    static func statistics(_ x: UnsafePointer<Float>, _ layout: NormalizationLayout) -> NormalizationStatistics {
        let local = NormalizationKernels.statistics(x, layout)
        guard let ranks = ranks(for: layout) else { return local }
        let size = Double(ranks.size)
        var mean = local.mean
        ranks.sum(&mean, operation: "synchronised BatchNorm means")
        mean = mean.map { $0 / size }
        var variance = local.variance.indices.map { local.variance[$0] + (local.mean[$0] - mean[$0]) * (local.mean[$0] - mean[$0]) }
        ranks.sum(&variance, operation: "synchronised BatchNorm variances")
        return NormalizationStatistics(mean: mean, variance: variance.map { $0 / size })
    }

    /// Values behind each statistic, over all ranks.
    static func count(_ layout: NormalizationLayout) -> Int {
        layout.elementsPerStatistic * (ranks(for: layout)?.size ?? 1)
    }

    /// Backward's two per-statistic gradient sums, summed over all ranks in place (one collective).
    static func sumGradientSums(_ first: inout [Double], _ second: inout [Double], _ layout: NormalizationLayout) {
        guard let ranks = ranks(for: layout) else { return }
        var both = first + second
        ranks.sum(&both, operation: "synchronised BatchNorm gradient sums")
        first = Array(both[0..<first.count])
        second = Array(both[first.count...])
    }
}
