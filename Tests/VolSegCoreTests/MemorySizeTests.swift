@testable import VolSegCore
import XCTest

final class MemorySizeTests: XCTestCase {
    func testBytesAndBinaryAndDecimalUnits() throws {
        let cases: [(String, Int)] = [
            ("8589934592", 8_589_934_592), ("6GiB", 6 << 30), ("1536MiB", 1536 << 20), ("512KiB", 512 << 10),
            ("1TiB", 1 << 40), ("8GB", 8_000_000_000), ("250MB", 250_000_000), ("4KB", 4000), ("2TB", 2_000_000_000_000),
            ("1.5GiB", 3 << 29), ("0.5 MB", 500_000), ("8gib", 8 << 30), (" 16 GiB ", 16 << 30), ("100B", 100),
        ]
        for (text, bytes) in cases {
            XCTAssertEqual(try MemorySize(parsing: text).bytes, bytes, text)
        }
    }

    func testAnythingElseIsAnErrorNamingTheValue() {
        for text in ["", "GiB", "8 GiBs", "8Gb/s", "-1GiB", "1.5", "0", "0.1B", "1e9", "eight", "8 G", "1..2GB", "8iB"] {
            XCTAssertThrowsError(try MemorySize(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains("'\(text)'"), "\(text): \(error)")
                XCTAssertEqual((error as? MemorySizeError)?.text, text, "\(text): \(error)")
            }
        }
        let kinds: [(String, MemorySizeError)] = [("eight", .notASize(text: "eight")), ("1.5", .fractionalBytes(text: "1.5")),
                                                  ("0.1B", .fractionalBytes(text: "0.1B")), ("0", .belowOneByte(text: "0"))]
        for (text, expected) in kinds {
            XCTAssertThrowsError(try MemorySize(parsing: text), text) { XCTAssertEqual($0 as? MemorySizeError, expected) }
        }
    }

    func testDescriptionUsesBinaryUnits() {
        XCTAssertEqual(MemorySize(bytes: 8 << 30).description, "8 GiB")
        XCTAssertEqual(MemorySize.format(1_900_000_000), "1.77 GiB")
        XCTAssertEqual(MemorySize.format(512), "512 B")
    }
}
