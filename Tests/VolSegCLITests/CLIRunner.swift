import Foundation
import VolSegTestSupport
import XCTest

/// Runs the built `volseg` binary; tests skip with a message when it has not been built.
struct CLIRunner {
    let binary: URL

    static func make() throws -> CLIRunner {
        guard let binary = TestPaths.volsegBinary else {
            print("SKIP: the volseg binary is not built (swift build), so CLI tests cannot run")
            throw XCTSkip("volseg binary not built")
        }
        return CLIRunner(binary: binary)
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        /// The signal that ended the process (9 for SIGKILL), nil when it exited.
        var signal: Int32? = nil

        /// Exit statuses of a crash: SIGSEGV, SIGABRT (a trap, a failed precondition) or SIGILL as a
        /// shell reports them, or the signal itself.
        var crashed: Bool { [139, 134, 132].contains(status) || [SIGSEGV, SIGABRT, SIGILL, SIGBUS].contains(signal ?? 0) }
    }

    /// A synthetic BraTS dataset of 32^3 cases at `url`, made once (tests share it).
    func syntheticBraTS(at url: URL, cases: Int, seed: Int) throws -> URL {
        if !FileManager.default.fileExists(atPath: url.path) {
            let result = try run(["synth", "brats", "--cases", String(cases), "--out", url.path, "--size", "32", "32", "32",
                                  "--seed", String(seed)])
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        return url
    }

    /// Runs volseg with `environment` added to this process's (e.g. VOLSEG_FAULT_KILL_AT) and, with
    /// `standardOutput`, its stdout going to that file (as `> FILE` in a shell) instead of a pipe.
    func run(_ arguments: [String], environment: [String: String] = [:], standardOutput: URL? = nil) throws -> Result {
        try run(executable: binary, arguments, environment: environment, standardOutput: standardOutput)
    }

    /// Runs volseg under `ulimit -f blocks` (dash counts 512-byte blocks, bash 1024: choose limits
    /// that both interpretations put below the file the test means to cut short).
    func run(fileSizeLimitBlocks blocks: Int, _ arguments: [String]) throws -> Result {
        try run(executable: URL(fileURLWithPath: "/bin/sh"),
                ["-c", "ulimit -f \(blocks); exec \"$0\" \"$@\"", binary.path] + arguments)
    }

    /// Runs volseg with a file-size limit of exactly `bytes` (util-linux prlimit; RLIMIT_FSIZE
    /// counts bytes, so no shell's block size is involved): a write past it fails with EFBIG.
    func run(fileSizeLimitBytes bytes: Int, _ arguments: [String], standardOutput: URL? = nil) throws -> Result {
        guard let prlimit = Self.prlimit else {
            XCTFail("prlimit (util-linux) is not installed: the file-size limit tests cannot run")
            throw XCTSkip("prlimit not installed")
        }
        return try run(executable: prlimit, ["--fsize=\(bytes)", "--", binary.path] + arguments, standardOutput: standardOutput)
    }

    /// Runs volseg as `ranks` MPI ranks on this machine (mpirun, loopback, as root in containers).
    /// `shellSuffix`: each rank runs `volseg ARGS` inside sh, followed by this (e.g. to record the
    /// rank's own exit status, which mpirun does not report under --enable-recovery).
    func runMPI(ranks: Int, _ arguments: [String], environment: [String: String] = [:], mpirunOptions: [String] = [],
                shellSuffix: String? = nil, command explicitCommand: [String]? = nil) throws -> Result {
        guard let mpirun = Self.mpirun else {
            XCTFail("mpirun (Debian openmpi-bin, installed by make deps) is missing: the data-parallel tests cannot run")
            throw XCTSkip("mpirun not installed")
        }
        // Open MPI in containers: no CMA single-copy (ptrace is usually denied), root allowed.
        let mpiEnvironment = ["OMPI_MCA_btl_vader_single_copy_mechanism": "none"].merging(environment) { _, new in new }
        let command: [String]
        if let explicitCommand {
            command = explicitCommand
        } else if let shellSuffix {
            command = ["/bin/sh", "-c", "\"$0\" \"$@\"; " + shellSuffix, binary.path] + arguments
        } else {
            command = [binary.path] + arguments
        }
        return try run(executable: mpirun, ["--allow-run-as-root", "--oversubscribe", "-np", String(ranks)] + mpirunOptions + command,
                       environment: mpiEnvironment)
    }

    /// Runs `script` in sh as each of `ranks` MPI ranks, volseg's path in $VOLSEG (ranks that
    /// differ: `[ $OMPI_COMM_WORLD_RANK = 1 ] && ...`).
    func runMPIShell(ranks: Int, script: String) throws -> Result {
        try runMPI(ranks: ranks, [], environment: ["VOLSEG": binary.path], shellSuffix: nil, command: ["/bin/sh", "-c", script])
    }

    static let mpirun: URL? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].map { URL(fileURLWithPath: $0) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }

    static let prlimit: URL? = ["/usr/bin/prlimit", "/bin/prlimit"].map { URL(fileURLWithPath: $0) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }

    /// A volseg process under way, to be killed from outside (`kill -9`) while it works.
    final class Running {
        let process: Process
        private let collected = DispatchGroup()
        private var outData = Data(), errData = Data()

        fileprivate init(_ process: Process, out: Pipe, err: Pipe) {
            self.process = process
            for (pipe, isOut) in [(out, true), (err, false)] {
                collected.enter()
                DispatchQueue.global().async {
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    if isOut { self.outData = data } else { self.errData = data }
                    self.collected.leave()
                }
            }
        }

        /// Sends SIGKILL after `seconds` unless the process has finished by then, and waits for it.
        func kill(after seconds: Double) -> Result {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { usleep(1000) }
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            return wait()
        }

        func wait() -> Result {
            process.waitUntilExit()
            collected.wait()
            let signalled = process.terminationReason == .uncaughtSignal
            return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                          stderr: String(decoding: errData, as: UTF8.self), signal: signalled ? process.terminationStatus : nil)
        }
    }

    /// Starts volseg and returns at once.
    func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        let (process, out, err) = makeProcess(executable: binary, arguments, environment: environment, standardOutput: nil)
        try process.run()
        return Running(process, out: out, err: err)
    }

    private func makeProcess(executable: URL, _ arguments: [String], environment: [String: String],
                             standardOutput: URL?) -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let out = Pipe(), err = Pipe()
        if let standardOutput {
            FileManager.default.createFile(atPath: standardOutput.path, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: standardOutput.path)
        } else {
            process.standardOutput = out
        }
        process.standardError = err
        return (process, out, err)
    }

    private func run(executable: URL, _ arguments: [String], environment: [String: String] = [:],
                     standardOutput: URL? = nil) throws -> Result {
        let (process, out, err) = makeProcess(executable: executable, arguments, environment: environment, standardOutput: standardOutput)
        try process.run()
        if standardOutput != nil {
            // The child has its own descriptor for the file; nothing comes through the pipe.
            (process.standardOutput as? FileHandle)?.closeFile()
            try? out.fileHandleForWriting.close()
        }
        // Read while it runs so a large output cannot fill a pipe and block the child.
        return Running(process, out: out, err: err).wait()
    }
}
