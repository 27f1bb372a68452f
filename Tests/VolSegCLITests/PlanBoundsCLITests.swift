import Foundation
import VolSegTestSupport
import XCTest

/// `volseg plan` and `volseg train` with a 1024^3 patch: refused from the plan's lower bound in
/// well under a few seconds, with the figures, staying small in resident memory; `segment
/// --plan-memory` names the predicted process peak beside the ledger's.
final class PlanBoundsCLITests: XCTestCase {
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-plan-bounds-\(UUID().uuidString)")

    override class func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func hugePatchSetup(_ cli: CLIRunner) throws -> (pipeline: String, data: String) {
        let data = Self.folder.appendingPathComponent("synth")
        let result = try cli.run(["synth", "brats", "--cases", "3", "--out", data.path, "--size", "32", "32", "32", "--seed", "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml")
        let text = try String(contentsOf: tiny, encoding: .utf8)
            .replacingOccurrences(of: "size: [32, 32, 32]       # x y z", with: "size: [1024, 1024, 1024]")
        XCTAssertTrue(text.contains("[1024, 1024, 1024]"))
        let pipeline = Self.folder.appendingPathComponent("huge.yaml")
        try text.write(to: pipeline, atomically: true, encoding: .utf8)
        return (pipeline.path, data.path)
    }

    func testHugePatchIsRefusedQuicklyWithTheFigures() throws {
        let cli = try CLIRunner.make()
        let (pipeline, data) = try hugePatchSetup(cli)
        // /usr/bin/time -f %M prints the child's peak resident KiB last on stderr.
        let timed = FileManager.default.isExecutableFile(atPath: "/usr/bin/time")
        for arguments in [["plan", "--config", pipeline, "--data", data],
                          ["plan", "--config", pipeline, "--data", data, "--memory-budget", "2GiB"],
                          ["train", "--config", pipeline, "--data", data, "--out", Self.folder.appendingPathComponent("run").path,
                           "--no-progress"]] {
            let started = Date()
            let result = timed ? try CLIRunner(binary: URL(fileURLWithPath: "/usr/bin/time"))
                .run(["-f", "%M"] + [cli.binary.path] + arguments) : try cli.run(arguments)
            let seconds = Date().timeIntervalSince(started)
            let name = arguments.prefix(1).joined() + (arguments.contains("--memory-budget") ? " with a budget" : "")
            XCTAssertNotEqual(result.status, 0, name)
            XCTAssertTrue(result.stderr.contains("needs at least"), "\(name): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("GiB") && result.stderr.contains("physical memory"), "\(name): \(result.stderr)")
            XCTAssertLessThan(seconds, 10, name)
            if timed, let kib = result.stderr.split(separator: "\n").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
                print("\(name) of a 1024^3 patch: \(String(format: "%.2f", seconds)) s, peak RSS \(kib / 1024) MiB")
                XCTAssertLessThan(kib, 300 * 1024, name)
            }
        }
    }

    func testPlanReportsThePredictedProcessPeakBesideTheLedger() throws {
        let cli = try CLIRunner.make()
        let (_, data) = try hugePatchSetup(cli)
        let tiny = TestPaths.repositoryRoot.appendingPathComponent("pipelines/brats-tiny.yaml").path
        let result = try cli.run(["plan", "--config", tiny, "--data", data])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("predicted peak") && result.stdout.contains("ledger")
                      && result.stdout.contains("reserve 256 MiB"), result.stdout)
    }
}
