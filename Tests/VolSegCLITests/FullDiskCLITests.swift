import Foundation
import VolSegIO
import VolSegNN
import VolSegTestSupport
import XCTest

/// Every output on a full disk: each command runs once with room to spare to learn what it writes
/// (names and sizes, in the order written), then once per threshold of each output, on a tmpfs of
/// its own left with exactly the pages the earlier outputs take plus the threshold, so that the
/// output's first write, a middle one or its last page fails with ENOSPC. Each run must exit
/// non-zero without crashing, name the output and say "no space left on device", and leave every
/// output whole or absent and no temporary file.
///
/// Where a tmpfs cannot be mounted (no root, a container that forbids it) the same byte thresholds
/// run under a file-size limit (prlimit --fsize, EFBIG "file size limit exceeded"), which cuts the
/// first output larger than the threshold, and a line says why the tmpfs part did not run.
final class FullDiskCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-full-disk-\(UUID().uuidString)")
    static let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path
    static let model = TestPaths.repositoryRoot.appendingPathComponent("data/models/brats-synthetic-bn.h5").path
    static let lockName = ".volseg.lock"

    var cli: CLIRunner!
    /// The tmpfs, nil when the tests run under a file-size limit instead.
    var small: SmallFileSystem?
    /// Where the runs' folders go: on the tmpfs, or in the temporary directory.
    var base: URL!
    var runs = 0

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    override func setUpWithError() throws {
        cli = try CLIRunner.make()
        switch SmallFileSystem.mount(bytes: 8 << 20) {
        case .success(let fs):
            small = fs
            base = fs.root.appendingPathComponent("out")
        case .failure(let refusal):
            print("FULL-DISK TESTS: the tmpfs part could not run (\(refusal)); running the same byte thresholds "
                + "under prlimit --fsize (EFBIG, file size limit exceeded) instead of a full disk (ENOSPC)")
            base = Self.folder.appendingPathComponent("out-\(UUID().uuidString)")
        }
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    }

    override func tearDown() {
        small?.unmount()
        small = nil
    }

    var reason: String { small == nil ? "file size limit exceeded" : "no space left on device" }
    var pageBytes: Int { small?.pageBytes ?? Int(getpagesize()) }

    /// Two synthetic BraTS cases (32^3), outside the tmpfs, shared by the tests.
    var data: URL {
        get throws { try cli.syntheticBraTS(at: Self.folder.appendingPathComponent("synth"), cases: 2, seed: 4) }
    }

    /// A fresh folder for one run, named with a fixed width so that paths recorded in outputs
    /// (a checkpoint's command line) have the same length in every run.
    func freshRun() throws -> URL {
        runs += 1
        let url = base.appendingPathComponent(String(format: "run-%04d", runs))
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A file a command wrote: its path inside the run folder and its size.
    struct Output {
        let path: String
        let bytes: Int
        /// The run folder's lock (train): its pid is written without checking, it is no output.
        var isLock: Bool { URL(fileURLWithPath: path).lastPathComponent == FullDiskCLITests.lockName }
    }

    /// The run folder's files in the order they were created. A tmpfs numbers inodes in the order
    /// it creates them (a temporary file keeps its inode when renamed); modification times would
    /// not do, the kernel stamps files written within a few milliseconds alike. Elsewhere the order
    /// is not known, which the file-size limit does not need (see `assertEveryWriteFailsCleanly`).
    func written(in run: URL) -> [Output] {
        var found: [(Output, UInt64)] = []
        let enumerator = FileManager.default.enumerator(atPath: run.path)
        while let path = enumerator?.nextObject() as? String {
            var status = stat()
            guard stat(run.appendingPathComponent(path).path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { continue }
            found.append((Output(path: path, bytes: Int(status.st_size)), UInt64(status.st_ino)))
        }
        return found.sorted { ($0.1, $0.0.path) < ($1.1, $1.0.path) }.map(\.0)
    }

    /// Thresholds for an output of `bytes`: nothing free (its first write fails), half its pages
    /// (a middle write) and all its pages but the last (its last write).
    func thresholds(_ bytes: Int) -> [Int] {
        let pages = max(1, (bytes + pageBytes - 1) / pageBytes)
        return Set([0, pages / 2, pages - 1]).sorted().map { $0 * pageBytes }
    }

    /// Runs `arguments(run)` once with room to spare, then once per threshold of every output it
    /// wrote, and checks each cut-short run. `standardOutput`: the command's stdout goes to this
    /// file in the run folder (as `> FILE`), which is then one of its outputs.
    func assertEveryWriteFailsCleanly(_ arguments: (URL) throws -> [String], standardOutput: String? = nil,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try freshRun()
        small?.emptyFiller()
        let first = try cli.run(try arguments(reference), standardOutput: standardOutput.map { reference.appendingPathComponent($0) })
        XCTAssertEqual(first.status, 0, "with room to spare: \(first.stderr)", file: file, line: line)
        let outputs = written(in: reference)
        XCTAssertFalse(outputs.isEmpty, "the command wrote nothing", file: file, line: line)
        try FileManager.default.removeItem(at: reference)

        for (index, target) in outputs.enumerated() where !target.isLock {
            for threshold in thresholds(target.bytes) {
                let run = try freshRun()
                let stdoutFile = standardOutput.map { run.appendingPathComponent($0) }
                // On the tmpfs the target fails; under a file-size limit, the first output written
                // that is larger than the threshold, whichever that is.
                let result: CLIRunner.Result, candidates: [Output]
                if let small {
                    let before = outputs[..<index].reduce(0) { $0 + small.allocated($1.bytes) }
                    try small.leave(freeBytes: before + threshold, file: file, line: line)
                    result = try cli.run(try arguments(run), standardOutput: stdoutFile)
                    candidates = [target]
                } else {
                    result = try cli.run(fileSizeLimitBytes: threshold, try arguments(run), standardOutput: stdoutFile)
                    candidates = outputs.filter { !$0.isLock && $0.bytes > threshold }
                }
                let context = "\(target.path) (\(target.bytes) bytes) with \(threshold) bytes left"
                assertRefused(result, candidates.map { run.appendingPathComponent($0.path) }, context: context, file: file, line: line)
                for output in outputs {
                    assertWholeOrAbsent(run.appendingPathComponent(output.path), like: output,
                                        isStandardOutput: output.path == standardOutput, context: context, file: file, line: line)
                }
                XCTAssertEqual(FaultChecks.temporaries(under: base), [], "temporary files left: \(context)", file: file, line: line)
                try FileManager.default.removeItem(at: run)
            }
        }
    }

    /// Failed without crashing, naming one of `candidates` (the output that could not be written)
    /// and the reason, and that output is absent.
    func assertRefused(_ result: CLIRunner.Result, _ candidates: [URL], context: String, file: StaticString, line: UInt) {
        XCTAssertNotEqual(result.status, 0, "\(context): \(result.stdout)", file: file, line: line)
        XCTAssertNil(result.signal, "\(context): killed by signal \(result.signal ?? 0): \(result.stderr)", file: file, line: line)
        XCTAssertFalse(result.crashed, "\(context): crashed: \(result.stderr)", file: file, line: line)
        guard let final = candidates.first(where: { result.stderr.contains("\(reason) writing \($0.path)") }) else {
            return XCTFail("\(context): the message names none of \(candidates.map(\.lastPathComponent)) with the reason "
                + "\"\(reason)\": \(result.stderr)", file: file, line: line)
        }
        XCTAssertFalse(result.stdout.contains("wrote \(final.path)"), "\(context): \(result.stdout)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: final.path) && !isEmptyFile(final),
                       "\(context): \(final.lastPathComponent) is left", file: file, line: line)
    }

    func isEmptyFile(_ url: URL) -> Bool {
        ((try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? -1) == 0
    }

    /// Absent, or as whole as the run with room to spare wrote it: the same size and readable by
    /// VolSeg's own readers. A redirected stdout must be as it was before the run: empty.
    func assertWholeOrAbsent(_ url: URL, like reference: Output, isStandardOutput: Bool, context: String,
                             file: StaticString, line: UInt) {
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        let name = url.lastPathComponent
        if isStandardOutput {
            XCTAssertTrue(isEmptyFile(url), "\(context): standard output \(name) holds part of the output", file: file, line: line)
            return
        }
        if name == Self.lockName { return }
        if name == "log.csv" {
            XCTAssertTrue(FaultChecks.logIsWhole(url), "\(context): log.csv holds a row cut short", file: file, line: line)
            return
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? -1
        XCTAssertEqual(size, reference.bytes, "\(context): \(reference.path) is not whole", file: file, line: line)
        if name.hasSuffix(".nii") || name.hasSuffix(".nii.gz") {
            XCTAssertNoThrow(try NIfTIReader.read(url), "\(context): \(reference.path) does not read", file: file, line: line)
        } else if name.hasSuffix(".h5") {
            XCTAssertNoThrow(try Checkpoint.read(from: url), "\(context): \(reference.path) does not load", file: file, line: line)
        }
    }

    // MARK: segment

    func testSegmentNIfTIOnAFullDisk() throws {
        let input = try data.appendingPathComponent("BraTS2021_00000").path
        try assertEveryWriteFailsCleanly { run in
            ["segment", "-i", input, "-o", run.appendingPathComponent("v0.nii").path, "-m", Self.model, "--no-progress"]
        }
    }

    func testSegmentCompressedLabelMapAndProbabilitiesOnAFullDisk() throws {
        let input = try data.appendingPathComponent("BraTS2021_00000").path
        try assertEveryWriteFailsCleanly { run in
            ["segment", "-i", input, "-o", run.appendingPathComponent("v0.nii.gz").path, "-m", Self.model, "--no-progress"]
        }
        // Probabilities first (about 200 KB compressed), then the label map; when the label map
        // fails the probabilities go too.
        try assertEveryWriteFailsCleanly { run in
            ["segment", "-i", input, "-o", run.appendingPathComponent("v0.nii.gz").path, "-m", Self.model,
             "--probabilities", run.appendingPathComponent("p.nii.gz").path, "--no-progress"]
        }
    }

    func testSegmentDatasetOnAFullDisk() throws {
        let dataset = try data.path
        try assertEveryWriteFailsCleanly { run in
            ["segment", "-i", dataset, "-o", run.appendingPathComponent("predictions").path, "-m", Self.model, "--no-progress"]
        }
    }

    // MARK: evaluate

    /// Predictions of the two cases, outside the tmpfs.
    func predictions() throws -> URL {
        let folder = Self.folder.appendingPathComponent("predictions")
        if !FileManager.default.fileExists(atPath: folder.path) {
            let result = try cli.run(["segment", "-i", try data.path, "-o", folder.path, "-m", Self.model, "--no-progress"])
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        return folder
    }

    func testEvaluateReportSetOnAFullDisk() throws {
        let predictions = try predictions().path, references = try data.path
        try assertEveryWriteFailsCleanly { run in
            ["evaluate", "--pred", predictions, "--ref", references, "--regions", "brats",
             "--out", run.appendingPathComponent("report").path, "--quiet"]
        }
    }

    /// A full disk while the new set is written leaves the previous report as it was, manifest and all.
    func testEvaluateOnAFullDiskKeepsThePreviousReportWhole() throws {
        let predictions = try predictions().path, references = try data.path
        let run = try freshRun(), report = run.appendingPathComponent("report")
        let arguments = ["evaluate", "--pred", predictions, "--ref", references, "--out", report.path, "--quiet"]
        XCTAssertEqual(try cli.run(arguments + ["--regions", "brats", "--no-pictures"]).status, 0)
        let old = try FaultChecks.snapshot(report)
        // The new set with pictures needs about 30 KB; 8 KB are left (4 KB under a file-size limit).
        if let small { try small.leave(freeBytes: 2 * small.pageBytes) }
        let result = small == nil ? try cli.run(fileSizeLimitBytes: pageBytes, arguments + ["--regions", "brats"])
            : try cli.run(arguments + ["--regions", "brats"])
        XCTAssertNotEqual(result.status, 0, result.stdout)
        XCTAssertFalse(result.crashed, result.stderr)
        XCTAssertTrue(result.stderr.contains("\(reason) writing \(report.path)/"), result.stderr)
        XCTAssertEqual(try FaultChecks.snapshot(report), old, "the previous report set is kept as it was")
        XCTAssertEqual(FaultChecks.temporaries(under: base), [])
    }

    // MARK: train, adapt, plan

    func testTrainOnAFullDisk() throws {
        let dataset = try data.path
        try assertEveryWriteFailsCleanly { run in
            ["train", "--config", Self.tiny, "--data", dataset, "--out", run.appendingPathComponent("run").path,
             "--epochs", "1", "--iterations-per-epoch", "1", "--no-progress"]
        }
    }

    /// A log row cut in the middle (the disk filled while log.csv grew) is taken back: log.csv keeps
    /// whole rows only. A file-size limit cuts at an exact byte, so this runs under one either way.
    func testTrainLogRowCutShortIsTakenBack() throws {
        let dataset = try data.path
        func arguments(_ run: URL) -> [String] {
            ["train", "--config", Self.tiny, "--data", dataset, "--out", run.appendingPathComponent("run").path,
             "--epochs", "1", "--iterations-per-epoch", "2", "--no-progress"]
        }
        let reference = try freshRun()
        XCTAssertEqual(try cli.run(arguments(reference)).status, 0)
        let log = try String(contentsOf: reference.appendingPathComponent("run/log.csv"), encoding: .utf8)
        let lines = log.split(separator: "\n").map { $0.utf8.count + 1 }
        XCTAssertEqual(lines.count, 3, log)
        let run = try freshRun(), url = run.appendingPathComponent("run/log.csv")
        let result = try cli.run(fileSizeLimitBytes: lines[0] + lines[1] + lines[2] / 2, arguments(run))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertFalse(result.crashed, result.stderr)
        XCTAssertTrue(result.stderr.contains("file size limit exceeded writing \(url.path)"), result.stderr)
        let kept = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(kept.split(separator: "\n", omittingEmptySubsequences: false).count, 3, "header, one row, end: \(kept)")
        XCTAssertTrue(kept.hasSuffix("\n"), kept)
        XCTAssertEqual(FaultChecks.temporaries(under: base), [])
    }

    func testAdaptOnAFullDisk() throws {
        let dataset = try data.path
        try assertEveryWriteFailsCleanly { run in
            ["adapt", "--model", Self.model, "--data", dataset, "--out", run.appendingPathComponent("adapted.h5").path,
             "--method", "adabn", "--batches", "1", "--quiet"]
        }
    }

    /// `volseg plan` writes only its standard output: redirected to a file on a full disk, it must
    /// fail naming that file, and leave it as it was (empty), not exit 0 with the plan lost.
    func testPlanToAFileOnAFullDisk() throws {
        let dataset = try data.path
        try assertEveryWriteFailsCleanly({ _ in ["plan", "--config", Self.tiny, "--data", dataset, "--json"] },
                                         standardOutput: "plan.json")
    }
}
