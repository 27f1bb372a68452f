import Foundation
@testable import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// report.html and `volseg view` pages opened in headless Chromium (Tests/Browser/check_page.py,
/// Selenium with Debian's chromedriver, installed by `make browser-deps`): no console errors, the
/// table sorts, keys move the slice, overlays toggle, the modality choice changes the image, and
/// the screenshot's pixel at a known voxel has its label's colour, on the real liver CT and on a
/// 20-case synthetic BraTS dataset.
final class ReportBrowserTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    static let python = TestPaths.repositoryRoot.appendingPathComponent(".build/browser-venv/bin/python")
    static let script = TestPaths.repositoryRoot.appendingPathComponent("Tests/Browser/check_page.py")

    /// check_page.py's findings, or a visible skip where the browser or Selenium is not installed.
    func checkPage(_ page: URL, arguments: [String]) throws -> [String: Any] {
        let fm = FileManager.default
        guard fm.isExecutableFile(atPath: Self.python.path), fm.isExecutableFile(atPath: "/usr/bin/chromium"),
              fm.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
            print("SKIP: headless Chromium or Selenium is not installed (make browser-deps), so report.html cannot be checked in a browser")
            throw XCTSkip("no browser")
        }
        let process = Process()
        process.executableURL = Self.python
        process.arguments = [Self.script.path, page.path] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, problems)
        let found = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text + problems)
        XCTAssertEqual(found["console"] as? [String], [], "no console errors")
        print("browser: table \(found["table_ms"] ?? "-") ms, case \(found["case_ms"] ?? "-") ms")
        return found
    }

    /// A voxel of `value` whose neighbours within `margin` voxels all hold it too, so the viewer's
    /// coarser grid shows that value there; its world (RAS) position.
    func worldPoint(inside value: Float, of labels: NIfTIVolume, margin: Int = 3) throws -> [Double] {
        let shape = labels.header.spatialShape, data = labels.voxels.data
        func at(_ x: Int, _ y: Int, _ z: Int) -> Float { data[(z * shape[1] + y) * shape[0] + x] }
        for z in margin..<(shape[2] - margin) { for y in margin..<(shape[1] - margin) { for x in margin..<(shape[0] - margin) {
            guard at(x, y, z) == value else { continue }
            var inside = true
            for dz in -margin...margin where inside { for dy in -margin...margin where inside { for dx in -margin...margin where at(x + dx, y + dy, z + dz) != value {
                inside = false
                break
            } } }
            if inside { return labels.affine.apply([Double(x), Double(y), Double(z)]) }
        } } }
        throw XCTSkip("no voxel of \(value) with a \(margin)-voxel margin")
    }

    func assertKeysMoveTheSlice(_ found: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws {
        let keys = try XCTUnwrap(found["keys"] as? [String], file: file, line: line)
        let numbers = keys.map { Int($0.split(separator: " ")[1].split(separator: "/")[0])! }
        let count = Int(keys[0].split(separator: "/")[1])!
        XCTAssertEqual(numbers[1], min(count, numbers[0] + 1), "ArrowUp: one slice up \(keys)", file: file, line: line)
        XCTAssertEqual(numbers[2], min(count, numbers[1] + 10), "PageUp: ten up \(keys)", file: file, line: line)
        XCTAssertEqual(numbers[3], numbers[2] - 1, "ArrowDown: one down \(keys)", file: file, line: line)
    }

    func assertPixelColours(_ found: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try XCTUnwrap(found["expected_colour"] as? [Int], file: file, line: line)
        XCTAssertEqual(found["pixel_filled"] as? [Int], expected, "the voxel's pixel has its label's colour", file: file, line: line)
        XCTAssertNotEqual(found["pixel_hidden"] as? [Int], expected, "hidden, the overlay is gone", file: file, line: line)
    }

    /// The real liver CT as a LiTS dataset, the prediction its reference with the tumour called
    /// liver: evaluate's report.html shows the CT with the prediction where the voxel is.
    func testRealCaseReportInChromium() throws {
        let cli = try CLIRunner.make()
        guard let ct = TestPaths.sharedFile("data/liver117/ct.nii.gz"), let seg = TestPaths.sharedFile("data/liver117/seg.nii.gz") else {
            throw XCTSkip("../shared absent")
        }
        let fm = FileManager.default
        let references = folder.appendingPathComponent("lits"), predictions = folder.appendingPathComponent("predictions")
        try fm.createDirectory(at: references, withIntermediateDirectories: true)
        try fm.createDirectory(at: predictions, withIntermediateDirectories: true)
        try fm.createSymbolicLink(at: references.appendingPathComponent("volume-0.nii.gz"), withDestinationURL: ct)
        try fm.createSymbolicLink(at: references.appendingPathComponent("segmentation-0.nii.gz"), withDestinationURL: seg)
        let reference = try NIfTIReader.read(seg)
        let prediction = reference.voxels.copy()
        for i in 0..<prediction.count where prediction.data[i] == 2 { prediction.data[i] = 1 }
        try NIfTIWriter.writeLabelMap(prediction, like: reference.header, to: predictions.appendingPathComponent("volume-0.nii.gz"))
        let out = folder.appendingPathComponent("report")
        let result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", references.path, "--out", out.path, "--no-pictures"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let world = try worldPoint(inside: 1, of: NIfTIVolume(header: reference.header, voxels: prediction, path: "prediction"))
        let found = try checkPage(out.appendingPathComponent("report.html"),
                                  arguments: ["--case", "volume-0", "--world"] + world.map { String($0) } + ["--label", "1"])
        XCTAssertEqual(found["has_table"] as? Bool, true)
        XCTAssertEqual(found["label_options"] as? [String], ["1", "2"])
        try assertKeysMoveTheSlice(found)
        try assertPixelColours(found)
    }

    /// A 20-case synthetic BraTS dataset, each case's prediction another case's labels: the Dice
    /// column sorts both ways (undefined last), the label filter lists the labels, the viewer has
    /// the four modalities and choosing one changes the image, and --report-max-cases bounds the
    /// viewer to the worst cases.
    func testSyntheticDatasetReportSortsFiltersAndBoundsTheViewer() throws {
        let cli = try CLIRunner.make()
        let dataset = try cli.syntheticBraTS(at: folder.appendingPathComponent("brats"), cases: 20, seed: 7)
        let layout = try DatasetDetector.detect(dataset)
        let cases = layout.scan().cases.sorted { $0.id < $1.id }
        XCTAssertEqual(cases.count, 20)
        let predictions = folder.appendingPathComponent("predictions")
        try FileManager.default.createDirectory(at: predictions, withIntermediateDirectories: true)
        for (n, item) in cases.enumerated() {
            let other = try XCTUnwrap(cases[(n + 1) % cases.count].labelFile)
            try FileManager.default.copyItem(at: other, to: predictions.appendingPathComponent("\(item.id).nii.gz"))
        }
        let out = folder.appendingPathComponent("report")
        var result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", dataset.path, "--out", out.path, "--no-pictures"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let reference = try NIfTIReader.read(try XCTUnwrap(cases[1].labelFile))
        let world = try worldPoint(inside: 2, of: reference, margin: 1)
        let found = try checkPage(out.appendingPathComponent("report.html"),
                                  arguments: ["--case", cases[0].id, "--world"] + world.map { String($0) } + ["--label", "2"])
        func numbers(_ key: String) throws -> [Double?] { try XCTUnwrap(found[key] as? [String]).map { Double($0) } }
        // The table opens worst first (Dice ascending); a click on the header reverses it, a
        // second restores it; undefined values stay last either way.
        let initial = try numbers("sorted_initial"), reversed = try numbers("sorted_after_click"), again = try numbers("sorted_after_second_click")
        XCTAssertEqual(initial.count, 20)
        XCTAssertEqual(initial.compactMap { $0 }, initial.compactMap { $0 }.sorted(), "ascending")
        XCTAssertEqual(reversed.compactMap { $0 }, reversed.compactMap { $0 }.sorted(by: >), "descending")
        XCTAssertEqual(again, initial)
        for column in [initial, reversed] {
            let firstUndefined = column.firstIndex { $0 == nil } ?? column.count
            XCTAssertTrue(column[firstUndefined...].allSatisfy { $0 == nil }, "undefined last: \(column)")
        }
        XCTAssertNotEqual(initial, reversed)
        XCTAssertEqual(found["label_options"] as? [String], ["1", "2", "4"])
        XCTAssertEqual(found["channels"] as? [String], ["T1", "T1ce", "T2", "FLAIR"])
        XCTAssertEqual(found["channel_changes_pixel"] as? Bool, true)
        try assertKeysMoveTheSlice(found)
        try assertPixelColours(found)

        let bounded = folder.appendingPathComponent("bounded")
        result = try cli.run(["evaluate", "--pred", predictions.path, "--ref", dataset.path, "--out", bounded.path, "--no-pictures",
                              "--report-max-cases", "5"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: bounded.appendingPathComponent("report_files").path).count, 5)
        let page = try String(contentsOf: bounded.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("\"omitted\":15"), "15 cases in the table only")
    }

    /// `volseg view` on the real CT and its reference, and on a DICOM series with a DICOM SEG mask.
    func testViewPagesShowOneCase() throws {
        let cli = try CLIRunner.make()
        guard let ct = TestPaths.sharedFile("data/liver117/ct.nii.gz"), let seg = TestPaths.sharedFile("data/liver117/seg.nii.gz") else {
            throw XCTSkip("../shared absent")
        }
        let page = folder.appendingPathComponent("view.html")
        var result = try cli.run(["view", ct.path, "--ref", seg.path, "-o", page.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let reference = try NIfTIReader.read(seg)
        var found = try checkPage(page, arguments: ["--case", "ct.nii.gz", "--world"] + (try worldPoint(inside: 1, of: reference)).map { String($0) }
                                  + ["--label", "1", "--source", "reference"])
        XCTAssertEqual(found["has_table"] as? Bool, false)
        try assertKeysMoveTheSlice(found)
        try assertPixelColours(found)

        let dicom = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/dicom")
        let series = dicom.appendingPathComponent("series/ct_axial")
        let dicomPage = folder.appendingPathComponent("dicom.html")
        result = try cli.run(["view", series.path, "--mask", dicom.appendingPathComponent("seg/highdicom_ct_axial.dcm").path, "-o", dicomPage.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let labels = try NIfTIReader.read(dicom.appendingPathComponent("labels/ct_axial.nii.gz"))
        found = try checkPage(dicomPage, arguments: ["--case", "ct_axial", "--world"] + (try worldPoint(inside: 2, of: labels, margin: 1)).map { String($0) }
                              + ["--label", "2"])
        try assertPixelColours(found)

        // Bad input: a mask on another grid names it, exits non-zero and writes nothing.
        let refused = folder.appendingPathComponent("refused.html")
        result = try cli.run(["view", ct.path, "--mask", dicom.appendingPathComponent("labels/ct_axial.nii.gz").path, "-o", refused.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("ct_axial.nii.gz"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path))
    }

    /// A training run's report.html: the loss and validation charts, the memory table, whose
    /// measured peaks are log.csv's, and the validation cases in the viewer.
    func testTrainingRunReport() throws {
        let cli = try CLIRunner.make()
        let data = try cli.syntheticBraTS(at: folder.appendingPathComponent("synth"), cases: 3, seed: 2)
        let run = folder.appendingPathComponent("run")
        let result = try cli.run(["train", "--config", TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path,
                                  "--data", data.path, "--out", run.path, "--epochs", "2", "--iterations-per-epoch", "2", "--no-progress"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let page = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        for series in ["per step", "epoch mean (at the epoch's end)", "WT", "TC", "ET"] {
            XCTAssertTrue(page.contains("data-series=\\\"\(series)\\\""), "a \(series) curve")
        }
        let log = try String(contentsOf: run.appendingPathComponent("log.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
        let rssPeak = log.compactMap { Int($0.split(separator: ",", omittingEmptySubsequences: false).last!) }.max()!
        XCTAssertTrue(page.contains(MemorySize.format(rssPeak)), "the measured RSS peak of log.csv")
        // The validation cases (the final model's predictions) open in the viewer from their links.
        let link = try XCTUnwrap(page.range(of: #"data-case=\\"[^\\]+"#, options: .regularExpression), "a validation case link")
        let id = String(page[link].dropFirst("data-case=\\\"".count))
        let found = try checkPage(run.appendingPathComponent("report.html"), arguments: ["--case", id])
        XCTAssertEqual(found["has_table"] as? Bool, false)
        XCTAssertEqual(found["channels"] as? [String], ["T1", "T1ce", "T2", "FLAIR"])
        try assertKeysMoveTheSlice(found)
    }
}
