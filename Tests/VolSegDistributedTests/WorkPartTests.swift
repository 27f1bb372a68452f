import VolSegCore
import XCTest
@testable import VolSegDistributed

final class WorkPartTests: XCTestCase {
    let single = SingleProcessGroup.shared

    func testEveryNthCaseOfTheSortedListAsNNUNetSplitsParts() throws {
        let cases = (0..<7).map { "case_\($0)" }
        let parts = try (0..<3).map { try WorkPart(count: 3, index: $0).select(cases) }
        XCTAssertEqual(parts[0], ["case_0", "case_3", "case_6"])
        XCTAssertEqual(parts[1], ["case_1", "case_4"])
        XCTAssertEqual(parts[2], ["case_2", "case_5"])
        XCTAssertEqual(Set(parts.flatMap { $0 }), Set(cases))
    }

    func testFlagsAreCheckedAndGoTogether() {
        XCTAssertThrowsError(try WorkPart(count: 0, index: 0)) { XCTAssertTrue("\($0)".contains("--num-parts must be at least 1")) }
        XCTAssertThrowsError(try WorkPart(count: 2, index: 2)) { XCTAssertTrue("\($0)".contains("--part-id must be in 0..<2")) }
        XCTAssertThrowsError(try WorkPart.resolve(count: 2, index: nil, group: single, environment: [:])) {
            XCTAssertTrue("\($0)".contains("go together"))
        }
        XCTAssertEqual(try WorkPart.resolve(count: nil, index: nil, group: single, environment: [:]), .whole)
    }

    func testSlurmArrayNumbersPartsFromItsMinimum() throws {
        let environment = ["SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "13",
                           "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "1"]
        XCTAssertEqual(try WorkPart.resolve(count: nil, index: nil, group: single, environment: environment), try WorkPart(count: 4, index: 2))
        // Flags win over the array.
        XCTAssertEqual(try WorkPart.resolve(count: 2, index: 1, group: single, environment: environment), try WorkPart(count: 2, index: 1))
    }

    func testSteppedOrGappedSlurmArraysAreRefused() {
        let stepped = ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "6",
                       "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "2"]
        XCTAssertThrowsError(try WorkPart.resolve(count: nil, index: nil, group: single, environment: stepped)) {
            XCTAssertTrue("\($0)".contains("step 2"), "\($0)")
        }
        var gapped = stepped
        gapped["SLURM_ARRAY_TASK_STEP"] = nil  // --array=0,2,5,6
        XCTAssertThrowsError(try WorkPart.resolve(count: nil, index: nil, group: single, environment: gapped)) {
            XCTAssertTrue("\($0)".contains("gaps"), "\($0)")
        }
    }

    func testOnlyALauncherStartsMPI() {
        XCTAssertFalse(DistributedLaunch.isLaunchedByMPI(["HOME": "/root"]))
        XCTAssertTrue(DistributedLaunch.isLaunchedByMPI(["OMPI_COMM_WORLD_SIZE": "2"]))
        XCTAssertTrue(DistributedLaunch.isLaunchedByMPI(["SLURM_PROCID": "0"]))
        XCTAssertTrue(DistributedLaunch.isLaunchedByMPI(["PMIX_RANK": "1"]))
    }

    func testGatherThroughTheGroupKeepsFullWords() {
        let words: [UInt64] = [0, 1, .max, 0x1234_5678_9ABC_DEF0]
        XCTAssertEqual(single.allGather(words, operation: "test"), words)
        XCTAssertEqual(single.failedRanks(ok: false, operation: "test"), [0])
        XCTAssertEqual(single.failedRanks(ok: true, operation: "test"), [])
    }
}
