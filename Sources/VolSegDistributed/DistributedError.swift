import Foundation

/// Why a run over several processes stopped.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// A collective did not complete within the rank timeout and these ranks did not answer the
    /// watchdog's probe: they died or are stalled.
    case rankDidNotRespond(ranks: [Int], operation: String, seconds: Double)
    /// An MPI call returned an error code.
    case mpiCall(name: String, code: Int32, message: String)
    /// Other ranks stopped the run with errors of their own (printed by them).
    case stoppedByRanks(ranks: [Int], operation: String)
    /// srun started several tasks but MPI sees one: Open MPI was not built with Slurm's PMI.
    case launcherMismatch(launcherTasks: Int, mpiSize: Int)

    public var description: String {
        switch self {
        case .rankDidNotRespond(let ranks, let operation, let seconds):
            let who = ranks.count == 1 ? "rank \(ranks[0])" : "ranks " + ranks.map(String.init).joined(separator: ", ")
            return "\(who) did not respond (\(operation) waited \(String(format: "%.0f", seconds)) s; "
                + "the rank died or is stalled, see --rank-timeout)"
        case .mpiCall(let name, let code, let message):
            return "\(name) failed with MPI error \(code): \(message)"
        case .stoppedByRanks(let ranks, let operation):
            return "stopped: rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", ")) "
                + "reported an error during \(operation) (see its message)"
        case .launcherMismatch(let tasks, let size):
            return "the launcher started \(tasks) tasks but MPI sees \(size) process(es): this Open MPI cannot join "
                + "them (no Slurm PMI support); start the ranks with mpirun inside the allocation"
        }
    }
}
