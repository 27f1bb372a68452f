import Foundation
import VolSegCore
import VolSegIO

/// The PyTorch reference files in ../shared/golden (see its README.md), opened read-only.
public enum GoldenFile {
    /// The golden file `name` ("ops.h5"), or nil after printing a SKIP line when ../shared is
    /// absent; callers turn nil into `throw XCTSkip(...)`.
    public static func open(_ name: String) throws -> HDF5File? {
        guard let url = TestPaths.sharedFile("golden/\(name)") else { return nil }
        return try HDF5File(url)
    }

    /// One dataset of a golden file as a tensor, or nil (with a SKIP line) when ../shared is absent.
    public static func tensor(_ name: String, _ path: String) throws -> Tensor? {
        try open(name)?.tensor(path)
    }
}
