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

    func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = binary
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
