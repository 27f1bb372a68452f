import Foundation

/// Which implementation each GEMM shape went to inside `record`: `volseg bench kernels` names them
/// per kernel, so a figure can be traced to OpenBLAS or to one of our kernels. Outside `record` a
/// `BLAS.sgemm` call pays one atomic load (`ScopedTally`).
public enum GEMMShapeLog {
    public struct Entry: Hashable, Sendable {
        public var m: Int, n: Int, k: Int
        public var transposeA: Bool, transposeB: Bool
        public var kernel: GEMMKernel
    }

    private static let tally = ScopedTally([Entry: Int]())

    /// The GEMMs `body` ran, each distinct shape with its call count, most multiply-adds first.
    public static func record(_ body: () throws -> Void) rethrows -> [(entry: Entry, calls: Int)] {
        try tally.record(body).map { (entry: $0.key, calls: $0.value) }
            .sorted { $0.entry.m * $0.entry.n * $0.entry.k * $0.calls > $1.entry.m * $1.entry.n * $1.entry.k * $1.calls }
    }

    static func note(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, kernel: GEMMKernel, calls: Int = 1) {
        tally.add { $0[Entry(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, kernel: kernel), default: 0] += calls }
    }
}
