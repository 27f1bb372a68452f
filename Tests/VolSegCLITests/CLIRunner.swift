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

    func run(_ arguments: [String]) throws -> Result {
        try run(executable: binary, arguments)
    }

    /// Runs volseg under `ulimit -f blocks` (dash counts 512-byte blocks, bash 1024: choose limits
    /// that both interpretations put below the file the test means to cut short).
    func run(fileSizeLimitBlocks blocks: Int, _ arguments: [String]) throws -> Result {
        try run(executable: URL(fileURLWithPath: "/bin/sh"),
                ["-c", "ulimit -f \(blocks); exec \"$0\" \"$@\"", binary.path] + arguments)
    }

    /// Runs volseg with extra environment variables (through env(1), so the test's own
    /// environment is inherited as it is).
    func run(environment: [String: String], _ arguments: [String]) throws -> Result {
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try run(executable: URL(fileURLWithPath: "/usr/bin/env"), assignments + [binary.path] + arguments)
    }

    private func run(executable: URL, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting so a large output cannot fill the pipe and block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
