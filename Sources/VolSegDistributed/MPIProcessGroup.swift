import CMPI
import Foundation
import VolSegCore

/// `ProcessGroup` over MPI_COMM_WORLD, with a watchdog on every collective.
///
/// Debian's Open MPI 4.1 has no fault tolerance: a blocking collective whose peer died or stopped
/// waits forever, and mpirun reports a death only when it sees it itself (not under srun, not with
/// `--enable-recovery`, not for a stalled process). So every collective here is non-blocking and
/// polled. Once a collective has waited `timeout` minus a probe interval, the rank pings every
/// other rank and waits the probe interval for the answers: ranks that do not answer are named in
/// the error; when all answer, they are alive and busy (a long validation share, a checkpoint
/// being written, data still loading) and the wait goes on. Answers come from a background thread
/// of every rank, so a rank computing for an hour still answers, while a rank that died, was
/// stopped (SIGSTOP) or lost its network does not.
///
/// MPI is called from two threads, never at once (MPI_THREAD_SERIALIZED, under `lock`): the
/// thread that runs the collectives and the answering thread.
public final class MPIProcessGroup: ProcessGroup, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// The ranks on this machine (an MPI shared-memory split), for the default thread count.
    public let localSize: Int
    /// Seconds a collective waits before the watchdog probes the other ranks (and again after each
    /// probe every rank answered).
    public let timeout: Double
    public private(set) var failure: (any Error)?
    private let communicator: MPI_Comm?
    private let lock = NSLock()
    private var stopAnswering = false

    private static let pingTag: Int32 = 30_001
    private static let pongTag: Int32 = 30_002
    /// Send buffers of the probe's messages: MPI reads them after MPI_Isend returns, so they
    /// must outlive the call (the values are never read).
    nonisolated(unsafe) private static var probeToken = UnsafeMutablePointer<Int32>.allocate(capacity: 1)

    /// Calls MPI_Init_thread; once per process (see `DistributedLaunch`).
    init(timeout: Double) throws {
        var provided: Int32 = 0
        try Self.call("MPI_Init_thread", MPI_Init_thread(nil, nil, vs_mpi_thread_serialized(), &provided))
        guard provided >= vs_mpi_thread_serialized() else {
            throw DistributedError.mpiCall(name: "MPI_Init_thread", code: provided,
                                           message: "this MPI library cannot be called from two threads (MPI_THREAD_SERIALIZED)")
        }
        let world = vs_mpi_comm_world()
        communicator = world
        // Errors come back as codes (turned into DistributedError) instead of aborting the job.
        try Self.call("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(world, vs_mpi_errors_return()))
        var value: Int32 = 0
        try Self.call("MPI_Comm_rank", MPI_Comm_rank(world, &value))
        rank = Int(value)
        try Self.call("MPI_Comm_size", MPI_Comm_size(world, &value))
        size = Int(value)
        var local: MPI_Comm?
        try Self.call("MPI_Comm_split_type", MPI_Comm_split_type(world, vs_mpi_comm_type_shared(), Int32(rank), vs_mpi_info_null(), &local))
        try Self.call("MPI_Comm_size", MPI_Comm_size(local, &value))
        localSize = Int(value)
        MPI_Comm_free(&local)
        self.timeout = timeout
        if size > 1 { startAnswering() }
    }

    /// The answering thread: every 20 ms, the pings that have arrived.
    private func startAnswering() {
        let thread = Thread { [unowned self] in
            while true {
                let stop: Bool = lock.withLock {
                    if !stopAnswering { answerProbes() }
                    return stopAnswering
                }
                if stop { return }
                usleep(20_000)
            }
        }
        thread.name = "volseg.mpi-watchdog"
        thread.start()
    }

    /// MPI_Finalize after a run whose collectives all completed; after a failure it would wait for
    /// the dead rank, so the process exits without it.
    func finalize() {
        lock.withLock { stopAnswering = true }
        if failure == nil { lock.withLock { _ = MPI_Finalize() } }
    }

    /// Stops every rank now (MPI_Abort): a rank that hit an error of its own ends the job instead of
    /// leaving the others to wait for it until their watchdogs fire.
    func abort(code: Int32) -> Never {
        lock.lock()
        MPI_Abort(communicator, code)
        exit(code)
    }

    public func sum(_ values: UnsafeMutableBufferPointer<Float>, operation: String) {
        reduce(values.baseAddress, count: values.count, type: vs_mpi_float(), stride: 4, operation: operation)
    }

    public func sum(_ values: UnsafeMutableBufferPointer<Double>, operation: String) {
        reduce(values.baseAddress, count: values.count, type: vs_mpi_double(), stride: 8, operation: operation)
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int, operation: String) {
        guard failure == nil, let base = bytes.baseAddress else { return }
        // MPI counts are Int32: large buffers go in chunks.
        for start in stride(from: 0, to: bytes.count, by: Self.chunkElements) {
            var request: MPI_Request? = vs_mpi_request_null()
            let count = Int32(min(Self.chunkElements, bytes.count - start))
            guard succeeded("MPI_Ibcast", lock.withLock { MPI_Ibcast(base + start, count, vs_mpi_byte(), Int32(root), communicator, &request) }),
                  wait(&request, operation: operation) else { return }
        }
    }

    private static let chunkElements = 1 << 28

    private func reduce(_ base: UnsafeMutableRawPointer?, count: Int, type: MPI_Datatype?, stride elementBytes: Int, operation: String) {
        guard failure == nil, let base, count > 0 else { return }
        // All chunks are started before the first is waited for, so MPI can pipeline them.
        var requests: [MPI_Request?] = []
        for start in Swift.stride(from: 0, to: count, by: Self.chunkElements) {
            var request: MPI_Request? = vs_mpi_request_null()
            let n = Int32(min(Self.chunkElements, count - start))
            guard succeeded("MPI_Iallreduce", lock.withLock {
                MPI_Iallreduce(vs_mpi_in_place(), base + start * elementBytes, n, type, vs_mpi_sum(), communicator, &request)
            }) else { return }
            requests.append(request)
        }
        for i in requests.indices {
            guard wait(&requests[i], operation: operation) else { return }
        }
    }

    private func succeeded(_ name: String, _ code: Int32) -> Bool {
        if code == MPI_SUCCESS { return true }
        failure = Self.error(name, code)
        return false
    }

    /// Polls `request` until it completes. Each time it has waited `timeout` minus the probe
    /// interval, it probes the others: it records a failure naming those that did not answer, or,
    /// when all did, waits on.
    private func wait(_ request: inout MPI_Request?, operation: String) -> Bool {
        let probeSeconds = min(5, timeout / 5)
        var since = DispatchTime.now().uptimeNanoseconds
        var polls = 0
        while true {
            var done: Int32 = 0
            guard succeeded("MPI_Test", lock.withLock { MPI_Test(&request, &done, vs_mpi_status_ignore()) }) else { return false }
            if done != 0 { return true }
            let waited = Double(DispatchTime.now().uptimeNanoseconds - since) / 1e9
            if waited >= timeout - probeSeconds {
                let silent = probe(seconds: probeSeconds)
                if !silent.isEmpty {
                    failure = DistributedError.rankDidNotRespond(ranks: silent, operation: operation, seconds: timeout)
                    return false
                }
                since = DispatchTime.now().uptimeNanoseconds
            }
            // A short spin catches the common case of peers a few microseconds behind; then the
            // wait sleeps, so a waiting rank leaves its core to ranks still computing.
            polls += 1
            if polls > 200 { usleep(polls > 2_000 ? 1_000 : 50) }
        }
    }

    /// Answers every ping that has arrived (called with `lock` held).
    private func answerProbes() {
        while true {
            var arrived: Int32 = 0
            var status = MPI_Status()
            guard MPI_Iprobe(vs_mpi_any_source(), Self.pingTag, communicator, &arrived, &status) == MPI_SUCCESS, arrived != 0 else { return }
            var token: Int32 = 0
            guard MPI_Recv(&token, 1, vs_mpi_int(), status.MPI_SOURCE, Self.pingTag, communicator, vs_mpi_status_ignore()) == MPI_SUCCESS
            else { return }
            var reply: MPI_Request? = vs_mpi_request_null()
            if MPI_Isend(Self.probeToken, 1, vs_mpi_int(), status.MPI_SOURCE, Self.pongTag, communicator, &reply) == MPI_SUCCESS {
                MPI_Request_free(&reply)
            }
        }
    }

    /// Pings every other rank and returns those that have not answered within `seconds`.
    private func probe(seconds: Double) -> [Int] {
        let others = (0..<size).filter { $0 != rank }
        let answers = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, size))
        var pending: [Int: MPI_Request?] = [:]
        for peer in others {
            var ping: MPI_Request? = vs_mpi_request_null()
            var pong: MPI_Request? = vs_mpi_request_null()
            let posted: Bool = lock.withLock {
                if MPI_Isend(Self.probeToken, 1, vs_mpi_int(), Int32(peer), Self.pingTag, communicator, &ping) == MPI_SUCCESS {
                    MPI_Request_free(&ping)
                }
                return MPI_Irecv(answers + peer, 1, vs_mpi_int(), Int32(peer), Self.pongTag, communicator, &pong) == MPI_SUCCESS
            }
            if posted { pending[peer] = pong }
        }
        let started = DispatchTime.now().uptimeNanoseconds
        var answered = Set<Int>()
        while answered.count < others.count,
              Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 < seconds {
            for peer in others where !answered.contains(peer) {
                guard var request = pending[peer] else { continue }
                var done: Int32 = 0
                if lock.withLock({ MPI_Test(&request, &done, vs_mpi_status_ignore()) }) == MPI_SUCCESS, done != 0 { answered.insert(peer) }
                pending[peer] = request
            }
            usleep(1_000)
        }
        // The answers buffer stays allocated when a pong is missing: it may still land there.
        if answered.count == others.count { answers.deallocate() }
        return others.filter { !answered.contains($0) }
    }

    private static func call(_ name: String, _ code: Int32) throws {
        if code != MPI_SUCCESS { throw error(name, code) }
    }

    private static func error(_ name: String, _ code: Int32) -> DistributedError {
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        return .mpiCall(name: name, code: code, message: String(cString: text))
    }
}
