import Foundation
import VolSegTestSupport
import XCTest

/// A checkpoint on which libhdf5 1.10 loops for ever (found by `make fuzz`, kept in `fuzz/known/`)
/// must end with a named error, not hang.
final class CorruptCheckpointCLITests: XCTestCase {
    func testCheckpointOnWhichLibHDF5LoopsEndsWithANamedErrorInsteadOfHanging() throws {
        let cli = try CLIRunner.make()
        let checkpoint = TestPaths.repositoryRoot.appendingPathComponent("fuzz/known/checkpoint-hdf5-global-heap-hang.h5")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-hang-\(UUID().uuidString).nii.gz")
        let input = try XCTUnwrap(TestPaths.sharedFile("data/itk_head_t1/t1.nii.gz"))
        let started = Date()
        let result = try cli.run(["segment", "-i", input.path, "-o", output.path, "-m", checkpoint.path, "--no-progress"],
                                 environment: ["VOLSEG_LIBRARY_STALL_SECONDS": "2"])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("reading attribute \"config\" of \(checkpoint.path) did not finish within 2 s"),
                      result.stderr)
        XCTAssertTrue(result.stderr.contains("the file is corrupt"), result.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "the watchdog did not end the hang")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }
}
