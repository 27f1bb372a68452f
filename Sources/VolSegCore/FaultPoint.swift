import Foundation

/// Named places where a test can have this process killed with SIGKILL, as `kill -9` from outside
/// would, at a moment chosen exactly instead of by timing: the kill tests then check that every
/// output under its final name is whole or absent and that a rerun recovers.
///
/// The environment variable VOLSEG_FAULT_KILL_AT names one point, as `POINT`, `POINT:FILE` (write
/// points only: the output whose final name ends the path, e.g. `checkpoint_last.h5`) and either
/// followed by `#N` (the N-th time the point is reached, counted from 1; default the first).
/// Unset, `reached` costs a load of a value read once and a compare. A trailing `@R` arms the point
/// only in MPI rank R (the launcher's OMPI_COMM_WORLD_RANK, PMIX_RANK or SLURM_PROCID).
/// VOLSEG_FAULT_STOP_AT takes the same spec and stops the process with SIGSTOP instead: a rank that
/// stalls without dying, which no launcher notices (the data-parallel watchdog tests).
///
/// The points:
/// - `segment.loading`: the model is loaded, the input not yet read.
/// - `segment.preprocessing`: the input is preprocessed, inference not started.
/// - `segment.inference`: a sliding window has been predicted (#N: the N-th of the run).
/// - `write.partial:FILE`: part of FILE's temporary file is written, the rest not.
/// - `write.beforeRename:FILE`: FILE's temporary file is whole, flushed and checked, not yet renamed.
/// - `evaluate.scoring`: a case has been scored (#N).
/// - `fileset.staged`: a file set (the evaluation's report) is whole in its staging folder;
///   nothing under a final name has changed yet.
/// - `fileset.swapped`: the staged folder has been swapped in for the old one, which is not yet
///   removed.
/// - `fileset.betweenFiles`: a file of the set has been moved to its final name, others not yet
///   (#N; only in a folder that holds other files too, see `AtomicFileSet`).
/// - `train.step`: a training step's update is done, its log row not yet written (#N over the run).
/// - `train.epoch`: an epoch's steps and log rows are done, its checkpoints not yet written (#N).
/// - `adapt.batch`: an adaptation batch (adabn) or iteration (progressive) is done (#N).
public enum FaultPoint {
    public static let environmentVariable = "VOLSEG_FAULT_KILL_AT"
    public static let stopEnvironmentVariable = "VOLSEG_FAULT_STOP_AT"

    /// The armed point, nil in a normal run (read once, at the first point reached).
    private static let armed: Armed? = {
        let environment = ProcessInfo.processInfo.environment
        if let spec = environment[environmentVariable] { return Armed(spec, signal: SIGKILL, environment: environment) }
        if let spec = environment[stopEnvironmentVariable] { return Armed(spec, signal: SIGSTOP, environment: environment) }
        return nil
    }()

    /// Kills this process when the armed point is `point` (for `file`, when the point names one)
    /// and this is the N-th time it is reached.
    @inline(__always)
    public static func reached(_ point: StaticString, file: String? = nil) {
        guard let armed else { return }
        armed.reached("\(point)", file: file)
    }

    private final class Armed: @unchecked Sendable {
        let point: String
        let file: String?
        let occurrence: Int
        let spec: String
        let signal: Int32
        private var count = 0
        private let lock = NSLock()

        init?(_ spec: String, signal: Int32, environment: [String: String]) {
            var rest = Substring(spec)
            self.signal = signal
            if let at = rest.lastIndex(of: "@") {
                guard let rank = Int(rest[rest.index(after: at)...]) else { return nil }
                let mine = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"].lazy.compactMap { environment[$0].flatMap(Int.init) }.first
                guard mine == rank else { return nil }
                rest = rest[..<at]
            }
            var occurrence = 1
            if let hash = rest.lastIndex(of: "#") {
                guard let n = Int(rest[rest.index(after: hash)...]), n >= 1 else { return nil }
                occurrence = n
                rest = rest[..<hash]
            }
            if let colon = rest.firstIndex(of: ":") {
                file = String(rest[rest.index(after: colon)...])
                rest = rest[..<colon]
            } else {
                file = nil
            }
            guard !rest.isEmpty else { return nil }
            point = String(rest)
            self.occurrence = occurrence
            self.spec = spec
        }

        func reached(_ name: String, file reachedFile: String?) {
            guard name == point else { return }
            if let file, reachedFile.map({ URL(fileURLWithPath: $0).lastPathComponent }) != file { return }
            lock.lock()
            count += 1
            let due = count == occurrence
            lock.unlock()
            guard due else { return }
            // Said on stderr (unbuffered) so a test can tell the point was reached from a crash.
            let location = reachedFile.map { " (\($0))" } ?? ""
            let variable = signal == SIGKILL ? FaultPoint.environmentVariable : FaultPoint.stopEnvironmentVariable
            let line = "volseg: \(variable)=\(spec): \(signal == SIGKILL ? "killed" : "stopped") at \(name)\(location)\n"
            let bytes = Array(line.utf8)
            _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            kill(getpid(), signal)
        }
    }
}
