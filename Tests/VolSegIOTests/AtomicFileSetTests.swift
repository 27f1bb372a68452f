import Foundation
@testable import VolSegIO
import XCTest

/// A file set replaces the whole old set (names the new one lacks included), keeps files that are
/// not the set's, leaves the old set as it was when a file cannot be written, and removes staging
/// folders of dead processes.
final class AtomicFileSetTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-set-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    let set = { (folder: URL) in AtomicFileSet(folder: folder, ownedNames: ["a.txt", "b.txt", "pictures"], manifestName: "manifest") }

    func contents(_ url: URL) -> [String: String] {
        var files: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: url.path)
        while let path = enumerator?.nextObject() as? String {
            if let text = try? String(contentsOf: url.appendingPathComponent(path), encoding: .utf8) { files[path] = text }
        }
        return files
    }

    func testANewSetReplacesAllOfTheOldOneInAFolderOfItsOwnOrShared() throws {
        for shared in [false, true] {
            let out = folder.appendingPathComponent(shared ? "shared" : "own")
            try set(out).write([("a.txt", Data("old a".utf8)), ("b.txt", Data("old b".utf8)), ("pictures/1.png", Data("p".utf8))],
                               manifest: Data("old".utf8))
            if shared { try Data("mine".utf8).write(to: out.appendingPathComponent("notes.txt")) }
            try set(out).write([("a.txt", Data("new a".utf8))], manifest: Data("new".utf8))
            var expected = ["a.txt": "new a", "manifest": "new"]
            if shared { expected["notes.txt"] = "mine" }
            XCTAssertEqual(contents(out), expected, shared ? "shared folder" : "own folder")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["own", "shared"], "no staging left")
    }

    func testAFileThatCannotBeWrittenLeavesTheOldSetAsItWas() throws {
        let out = folder.appendingPathComponent("out")
        try set(out).write([("a.txt", Data("old a".utf8))], manifest: Data("old".utf8))
        // A sub-folder where the set wants a file: writing pictures/1.png under a file named pictures fails.
        XCTAssertThrowsError(try set(out).write([("b.txt", Data("new b".utf8)), ("b.txt/x", Data())], manifest: Data("new".utf8))) {
            XCTAssertTrue("\($0)".contains(out.path), "\($0)")
        }
        XCTAssertEqual(contents(out), ["a.txt": "old a", "manifest": "old"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["out"])
    }

    func testStagingFoldersOfDeadProcessesAreRemoved() throws {
        // pid 2^22 + 1 is above Linux's largest pid, so no process has it.
        let stale = folder.appendingPathComponent(".volseg-4194305-0badf00d-out.tmp")
        try FileManager.default.createDirectory(at: stale.appendingPathComponent("pictures"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: stale.appendingPathComponent("pictures/1.png"))
        try set(folder.appendingPathComponent("out")).write([("a.txt", Data("a".utf8))], manifest: Data("m".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["out"])
    }
}
