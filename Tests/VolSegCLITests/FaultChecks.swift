import Foundation
import VolSegIO
import VolSegNN
import XCTest

/// What the fault tests (full disk, kill -9) look at afterwards: files by content, VolSeg's
/// temporaries, the reproducible columns of log.csv and a checkpoint's weights.
enum FaultChecks {
    /// Every file under `folder` by relative path, with its bytes (empty when the folder is absent).
    static func snapshot(_ folder: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: folder.path)
        while let path = enumerator?.nextObject() as? String {
            var isFolder: ObjCBool = false
            let url = folder.appendingPathComponent(path)
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), !isFolder.boolValue {
                files[path] = try Data(contentsOf: url)
            }
        }
        return files
    }

    /// A report set with its manifest's time of writing blanked, so two runs' sets compare equal.
    static func comparable(_ set: [String: Data]) -> [String: Data] {
        set.mapValues { data in
            let text = String(decoding: data, as: UTF8.self)
            guard let range = text.range(of: #""written": "[^"]*""#, options: .regularExpression) else { return data }
            return Data(text.replacingCharacters(in: range, with: #""written": """#).utf8)
        }
    }

    /// VolSeg's temporary files and folders anywhere under `folder` (the run lock is not one).
    static func temporaries(under folder: URL) -> [String] {
        var found: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: folder.path)
        while let path = enumerator?.nextObject() as? String {
            if URL(fileURLWithPath: path).lastPathComponent.hasPrefix(AtomicFile.temporaryPrefix) { found.append(path) }
        }
        return found
    }

    /// log.csv without the columns that differ between identical runs (seconds, memory peaks).
    static func reproducibleLog(_ url: URL) throws -> [String] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
            line.split(separator: ",", omittingEmptySubsequences: false).dropLast(3).joined(separator: ",")
        }
    }

    /// Whether log.csv holds whole rows only (every line ends and has the header's field count).
    static func logIsWhole(_ url: URL) -> Bool {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return false }
        let rows = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let columns = rows.first?.split(separator: ",", omittingEmptySubsequences: false).count ?? 0
        return text.hasSuffix("\n") && rows.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == columns }
    }

    /// A checkpoint's weights and buffers as float arrays by name.
    static func weights(_ url: URL) throws -> [String: [Float]] {
        try Checkpoint.read(from: url).modelState.mapValues { Array(UnsafeBufferPointer(start: $0.data, count: $0.count)) }
    }

    /// The epochs a checkpoint says are done.
    static func epochsDone(_ url: URL) throws -> Int64? {
        try Checkpoint.read(from: url).training["epoch"]?.first
    }

    /// A name for a fault point usable as a folder name.
    static func folderName(_ point: String) -> String {
        String(point.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" ? $0 : "-" })
    }
}

extension CLIRunner.Result {
    /// Ended by SIGKILL at the fault point it was sent to (the point says so on stderr).
    func assertKilledAtFaultPoint(_ point: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(signal, SIGKILL, "\(point): not killed (status \(status)): \(stderr)", file: file, line: line)
        XCTAssertTrue(stderr.contains("VOLSEG_FAULT_KILL_AT=\(point): killed at"), "\(point): \(stderr)", file: file, line: line)
    }
}
