import Foundation
@testable import VolSegIO
import XCTest

/// An output is refused when it is an input by device and inode (another spelling, a hard link),
/// and a folder lock held by one holder refuses the next, naming the holder's pid.
final class OutputCheckTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-output-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func testOutputThatIsAnInputByAnyNameIsRefused() throws {
        let input = folder.appendingPathComponent("ct.nii.gz"), link = folder.appendingPathComponent("link.nii.gz")
        try Data("scan".utf8).write(to: input)
        try FileManager.default.linkItem(at: input, to: link)
        let spelled = URL(fileURLWithPath: folder.path + "/./ct.nii.gz")
        for output in [input, link, spelled] {
            XCTAssertThrowsError(try OutputCheck.refuseOverwriting([input], with: output)) {
                XCTAssertEqual($0 as? OutputCheckError, .outputIsInput(output: output.path, input: input.path))
            }
        }
        XCTAssertNoThrow(try OutputCheck.refuseOverwriting([input], with: folder.appendingPathComponent("mask.nii.gz")))
        XCTAssertThrowsError(try OutputCheck.refuseFolder(URL(fileURLWithPath: folder.path + "/"), sameAs: folder))
        XCTAssertNoThrow(try OutputCheck.refuseFolder(folder.appendingPathComponent("out"), sameAs: folder))
    }

    func testASecondLockOnAFolderIsRefusedNamingTheHolder() throws {
        var first: FolderLock? = try FolderLock(folder)
        XCTAssertThrowsError(try FolderLock(folder)) {
            XCTAssertEqual($0 as? FolderLockError, .held(folder: folder.path, pid: Int(getpid())))
        }
        first = nil
        XCTAssertNil(first)
        XCTAssertNoThrow(try FolderLock(folder), "the lock goes with its holder")
    }
}
