import Foundation

/// Runs a short Python script with `python3` from PATH, for the tests whose outside reference is
/// Python's own library (h5py reading what we write, the stdlib's zipfile reading our zip64).
public enum PythonScript {
    public struct Result {
        /// nil when python3 could not be started at all.
        public var status: Int32?
        /// stdout and stderr together.
        public var output: String
        /// python3 is missing, or the script imports a module that is not installed.
        public var unavailable: Bool { status == nil || status == 127 || output.contains("No module named") }
    }

    public static func run(_ script: String, arguments: [String]) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { return Result(status: nil, output: "\(error)") }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: text)
    }
}
