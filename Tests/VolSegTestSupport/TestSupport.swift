import Foundation
import VolSegCore

/// Where the repository and the shared reference data are, seen from the tests.
public enum TestPaths {
    /// The repository root (this file is Tests/VolSegTestSupport/TestSupport.swift).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared` beside the checkout, or `$VOLSEG_SHARED`.
    public static var shared: URL {
        if let override = ProcessInfo.processInfo.environment["VOLSEG_SHARED"] {
            return URL(fileURLWithPath: override)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }

    public static var sharedIsPresent: Bool {
        FileManager.default.fileExists(atPath: shared.appendingPathComponent("golden").path)
    }

    /// A file under ../shared; nil (so that the caller skips visibly) when the folder is absent.
    public static func sharedFile(_ relative: String) -> URL? {
        guard sharedIsPresent else {
            print("SKIP: ../shared is absent, so \(relative) cannot be checked")
            return nil
        }
        return shared.appendingPathComponent(relative)
    }

    /// The volseg binary built with these tests (beside the test executable, so a sanitizer build in
    /// `.build/asan` runs its own instrumented volseg), else the newer of `.build/release` and
    /// `.build/debug`.
    public static var volsegBinary: URL? {
        if let beside = Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("volseg"),
           FileManager.default.isExecutableFile(atPath: beside.path) {
            return beside
        }
        let candidates = ["release", "debug"].map {
            repositoryRoot.appendingPathComponent(".build/\($0)/volseg")
        }.filter { FileManager.default.isExecutableFile(atPath: $0.path) }
        return candidates.max { a, b in
            let da = (try? a.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            let db = (try? b.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
            return da < db
        }
    }
}

/// ‖a − b‖ / ‖b‖ in Float64, the golden files' measure (README of ../shared/golden).
public func relativeError(_ actual: [Float], _ expected: [Float]) -> Double {
    precondition(actual.count == expected.count, "\(actual.count) values vs \(expected.count)")
    var diff = 0.0, norm = 0.0
    for (a, e) in zip(actual, expected) {
        diff += Double(a - e) * Double(a - e)
        norm += Double(e) * Double(e)
    }
    if norm == 0 { return diff.squareRoot() }
    return (diff / norm).squareRoot()
}

public func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
    precondition(actual.shape == expected.shape, "shape \(actual.shape) vs expected \(expected.shape)")
    return relativeError(actual.toArray(), expected.toArray())
}
