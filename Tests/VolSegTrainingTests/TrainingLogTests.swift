import Foundation
@testable import VolSegTraining
import XCTest

/// log.csv holds whole rows only: a resumed run keeps the rows before its checkpoint and drops a
/// last row without its newline (cut short by a full disk under an older VolSeg, or a kill).
final class TrainingLogTests: XCTestCase {
    func testResumeKeepsWholeRowsAndDropsOneCutShort() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: url) }
        let header = "epoch,iteration,loss,lr,val_dice_liver,seconds,ledger_peak_bytes,rss_peak_bytes"
        let rows = ["0,0,0.9,0.01,,0.100,1,2", "0,1,0.8,0.01,0.5,0.200,1,2"]
        try (header + "\n" + rows.joined(separator: "\n") + "\n1,2,0.7").write(to: url, atomically: true, encoding: .utf8)
        _ = try TrainingLog(url: url, structureNames: ["liver"], keepIterations: 3)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), ([header] + rows).joined(separator: "\n") + "\n")
    }
}
