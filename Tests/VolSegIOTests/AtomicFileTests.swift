import Foundation
@testable import VolSegCore
@testable import VolSegIO
import XCTest

/// Outputs written whole or not at all: under a file-size limit (RLIMIT_FSIZE, what `ulimit -f`
/// sets; with SIGXFSZ ignored a write past it fails with EFBIG, as a full disk fails with ENOSPC)
/// every writer fails naming the final path and the reason and leaves neither the file nor its
/// temporary; stale temporaries of dead processes are removed, live ones kept.
final class AtomicFileTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// Runs `body` with this process's file-size limit at `bytes` (tests run one at a time).
    func withFileSizeLimit<T>(_ bytes: Int, _ body: () throws -> T) rethrows -> T {
        signal(SIGXFSZ, SIG_IGN)
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        var limited = saved
        limited.rlim_cur = rlim_t(bytes)
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited)
        defer { setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved) }
        return try body()
    }

    var folderContents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] }

    func assertFailsNaming(_ url: URL, _ reason: String, file: StaticString = #filePath, line: UInt = #line,
                           _ body: () throws -> Void) {
        XCTAssertThrowsError(try withFileSizeLimit(4096, body), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(url.path) && "\(error)".contains(reason), "\(error)", file: file, line: line)
            XCTAssertFalse("\(error)".contains(AtomicFile.temporaryPrefix), "names a temporary: \(error)", file: file, line: line)
        }
        XCTAssertEqual(folderContents, [], "neither the file nor a temporary is left", file: file, line: line)
    }

    func testDataWriteOverTheLimitFailsNamingTheFileAndTheBytesNeeded() {
        let url = folder.appendingPathComponent("report.csv")
        assertFailsNaming(url, "file size limit exceeded writing \(url.path) (needed 10000 bytes)") {
            try AtomicFile.write(Data(repeating: 65, count: 10_000), to: url)
        }
        XCTAssertEqual(FileWriteError.systemError(path: "/small/v0.nii", code: ENOSPC, neededBytes: 885).description,
                       "no space left on device writing /small/v0.nii (needed 885 bytes)")
    }

    func testDataWriteReplacesAnExistingFileWhole() throws {
        let url = folder.appendingPathComponent("log.csv")
        try AtomicFile.write(Data("old\n".utf8), to: url)
        try AtomicFile.write(Data("new\n".utf8), to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "new\n")
        XCTAssertEqual(folderContents, ["log.csv"])
        XCTAssertThrowsError(try AtomicFile.write(Data(), to: folder.appendingPathComponent("no/such/x.csv"))) {
            XCTAssertTrue("\($0)".contains("missing or not writable"), "\($0)")
        }
    }

    func testNIfTIOverTheLimitFailsForNiiAndGzip() throws {
        let header = NIfTIHeader(spatialShape: [32, 32, 32], affine: .identity)
        var generator = RandomGenerator(seed: 3)
        let labels = Tensor(shape: [32, 32, 32], values: (0..<32 * 32 * 32).map { _ in Float(generator.next() % 3) })
        let nii = folder.appendingPathComponent("v0.nii")
        assertFailsNaming(nii, "file size limit exceeded writing \(nii.path) (needed \(352 + 32 * 32 * 32) bytes)") {
            try NIfTIWriter.writeLabelMap(labels, like: header, to: nii)
        }
        let gz = folder.appendingPathComponent("v0.nii.gz")
        assertFailsNaming(gz, "file size limit exceeded writing \(gz.path)") {
            try NIfTIWriter.writeLabelMap(labels, like: header, to: gz)
        }
        let pair = folder.appendingPathComponent("v0.hdr")
        assertFailsNaming(pair, "file size limit exceeded") {
            try NIfTIWriter.writeLabelMap(labels, like: header, to: pair)
        }
        // Without the limit the same writes succeed and read back.
        try NIfTIWriter.writeLabelMap(labels, like: header, to: gz)
        XCTAssertEqual(try NIfTIReader.read(gz).voxels.toArray(), labels.toArray())
        XCTAssertEqual(folderContents, ["v0.nii.gz"])
    }

    func testCheckpointOverTheLimitFailsWithoutCrashingAndNamesTheFinalFile() throws {
        let url = folder.appendingPathComponent("checkpoint_last.h5")
        let weight = Tensor(shape: [64, 64], values: (0..<4096).map { Float($0) })
        // Twice: a failed close must leave HDF5 usable, and the process must exit without a crash.
        for _ in 0..<2 {
            assertFailsNaming(url, "file size limit exceeded writing \(url.path)") {
                try HDF5File.writeAtomically(to: url) { file in
                    try file.write(weight, to: "weights/w")
                    try file.setAttribute("config", "{}")
                }
            }
        }
        try HDF5File.writeAtomically(to: url) { try $0.write(weight, to: "weights/w") }
        let written = try HDF5File(url)
        XCTAssertEqual(try written.tensor("weights/w").toArray(), weight.toArray())
        XCTAssertEqual(written.openObjectCount, 1, "a failed write left an HDF5 file open (or half closed)")
    }

    func testPNGOverTheLimitFailsNamingThePicture() {
        let url = folder.appendingPathComponent("curves.png")
        var generator = RandomGenerator(seed: 1)
        let pixels = (0..<(64 * 64 * 3)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        assertFailsNaming(url, "file size limit exceeded writing \(url.path)") {
            try PNGWriter.writeRGB(width: 64, height: 64, pixels: pixels, to: url)
        }
    }

    func testStaleTemporariesOfDeadProcessesAreRemovedAndLiveOnesKept() throws {
        // A pid that is gone: a child that has exited and been waited for.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier
        let names = [
            ".volseg-\(dead)-0123abcd-case_000.nii.gz",           // a dead writer's: removed
            ".volseg-\(dead)-89abcdef-checkpoint_last.h5.tmp",    // removed
            ".volseg-\(getpid())-00000000-mine.nii.gz",           // this process's: kept
            ".volseg-1-deadbeef-init.h5.tmp",                     // pid 1 is alive: kept
            ".volseg.lock", "case_000.nii.gz", ".volseg-notapid-x.nii",
        ]
        for name in names { try Data("x".utf8).write(to: folder.appendingPathComponent(name)) }
        let removed = AtomicFile.removeStaleTemporaries(in: folder).map(\.lastPathComponent).sorted()
        XCTAssertEqual(removed, names[0..<2].sorted())
        XCTAssertEqual(Set(folderContents), Set(names[2...]))
        // The names the writers use are of the form it recognises.
        let temporary = AtomicFile.temporaryURL(for: folder.appendingPathComponent("x.nii.gz"), keepingExtension: true)
        XCTAssertEqual(AtomicFile.writerProcess(ofTemporaryName: temporary.lastPathComponent), getpid())
        XCTAssertTrue(temporary.lastPathComponent.hasSuffix("-x.nii.gz"), temporary.lastPathComponent)
    }
}
