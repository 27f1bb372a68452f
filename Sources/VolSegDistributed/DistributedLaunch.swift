import Foundation
import VolSegCore

/// How this process was started: alone, or as one rank of an mpirun/srun job. MPI is initialised
/// only in the second case, so a plain `volseg ...` never needs mpirun (Open MPI's singleton
/// start would otherwise spawn a daemon on every command).
public enum DistributedLaunch {
    /// The variables a launcher sets in every rank: mpirun (Open MPI), PMIx launchers, srun.
    public static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_PROCID"]

    public static func isLaunchedByMPI(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        launcherVariables.contains { environment[$0] != nil }
    }

    nonisolated(unsafe) private static var mpiGroup: MPIProcessGroup?

    /// The group of this run: MPI_COMM_WORLD when launched by mpirun or srun, else one process.
    /// MPI is initialised on the first call; later calls return the same group (and keep the first
    /// call's timeout).
    public static func group(rankTimeout: Double = 60,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any ProcessGroup {
        if let mpiGroup { return mpiGroup }
        guard isLaunchedByMPI(environment) else { return SingleProcessGroup.shared }
        let group = try MPIProcessGroup(timeout: rankTimeout)
        mpiGroup = group
        // srun without a PMI Open MPI understands starts every task as a singleton of size 1:
        // each would then train alone into the same run folder.
        let launched = Int(environment["OMPI_COMM_WORLD_SIZE"] ?? environment["SLURM_NTASKS"] ?? "") ?? group.size
        if launched != group.size { throw DistributedError.launcherMismatch(launcherTasks: launched, mpiSize: group.size) }
        return group
    }

    /// The default thread count of a rank: the machine's cores shared among the ranks on it.
    public static func defaultThreadCount(cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        max(1, cores / max(1, mpiGroup?.localSize ?? 1))
    }

    /// "rank K of N" when this process is one of several MPI ranks, else nil.
    public static var rankLabel: String? {
        guard let mpiGroup, mpiGroup.size > 1 else { return nil }
        return "rank \(mpiGroup.rank) of \(mpiGroup.size)"
    }

    /// Ends MPI after a command that succeeded (nothing to do without MPI).
    public static func finish() {
        mpiGroup?.finalize()
    }

    /// After a command failed on this rank: when other ranks may still be running, and this rank's
    /// error is its own (not a collective that already failed), MPI_Abort ends the job at once;
    /// else the process exits with `code`.
    public static func abandon(code: Int32) -> Never {
        if let mpiGroup, mpiGroup.size > 1, mpiGroup.failure == nil { mpiGroup.abort(code: code) }
        exit(code)
    }
}
