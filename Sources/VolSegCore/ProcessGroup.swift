import Foundation

/// The processes of one data-parallel run (MPI ranks) as the code that trains or evaluates sees
/// them: its own rank, how many there are, and the collectives it needs. Core knows only this
/// protocol; the MPI implementation lives in VolSegDistributed, so nothing below the command line
/// links against MPI's types.
///
/// Every rank must call the same collectives in the same order with the same counts. A collective
/// that cannot complete (a rank died or stalled) does not hang and does not throw from inside the
/// kernels that call it (the Dice loss calls `sum` in its forward pass): it leaves the buffer as
/// it was, records `failure`, and turns every later collective into a no-op. The trainer calls
/// `check()` once per step, before anything is written, and stops with the recorded error.
public protocol ProcessGroup: AnyObject, Sendable {
    /// This process's rank, 0..<size.
    var rank: Int { get }
    var size: Int { get }
    /// The first collective that failed, nil while all have completed.
    var failure: (any Error)? { get }
    /// Sums `values` over all ranks, in place on every rank. `operation` names it in errors.
    func sum(_ values: UnsafeMutableBufferPointer<Float>, operation: String)
    func sum(_ values: UnsafeMutableBufferPointer<Double>, operation: String)
    /// Copies root's bytes into every rank's buffer (all buffers the same size).
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int, operation: String)
}

extension ProcessGroup {
    /// Throws the recorded failure, if any.
    public func check() throws {
        if let failure { throw failure }
    }

    public var isRoot: Bool { rank == 0 }

    public func sum(_ values: inout [Double], operation: String) {
        values.withUnsafeMutableBufferPointer { sum($0, operation: operation) }
    }

    /// Copies root's tensor values into every rank's tensor of the same shape.
    public func broadcast(_ tensor: Tensor, root: Int = 0, operation: String) {
        broadcast(UnsafeMutableRawBufferPointer(start: tensor.data, count: tensor.byteCount), root: root, operation: operation)
    }

    /// Every rank's `local` values, rank 0's first (each rank passes the same count).
    public func allGather(_ local: [UInt64], operation: String) -> [UInt64] {
        var all = [Double](repeating: 0, count: local.count * size * 2)
        // Two exact halves per word (a Double holds 32-bit integers exactly), summed into the
        // rank's own slots: a gather through the one reduction every group has.
        for (i, word) in local.enumerated() {
            all[(rank * local.count + i) * 2] = Double(word >> 32)
            all[(rank * local.count + i) * 2 + 1] = Double(word & 0xFFFF_FFFF)
        }
        sum(&all, operation: operation)
        return (0..<(local.count * size)).map { UInt64(all[$0 * 2]) << 32 | UInt64(all[$0 * 2 + 1]) }
    }

    /// Whether every rank passed `ok` (a collective: all ranks call it, and all get the same answer).
    /// The ranks that did not are returned, so each can say which rank stopped the run.
    public func failedRanks(ok: Bool, operation: String) -> [Int] {
        var flags = [Double](repeating: 0, count: size)
        flags[rank] = ok ? 0 : 1
        sum(&flags, operation: operation)
        return flags.indices.filter { flags[$0] != 0 }
    }
}

/// The group of a run started without mpirun: one rank, collectives that leave the values as
/// they are (a sum over one rank, a broadcast from oneself).
public final class SingleProcessGroup: ProcessGroup {
    public static let shared = SingleProcessGroup()

    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var failure: (any Error)? { nil }
    public func sum(_ values: UnsafeMutableBufferPointer<Float>, operation: String) {}
    public func sum(_ values: UnsafeMutableBufferPointer<Double>, operation: String) {}
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int, operation: String) {}
}
