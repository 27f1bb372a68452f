import Foundation
import VolSegInference
import VolSegNN

/// libFuzzer entry: the bytes as an HDF5 checkpoint read by VolSeg's checkpoint reader and, when
/// that succeeds, parsed as a segmenter's checkpoint config.
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-fuzz-\(getpid()).h5")
    guard (try? Data(bytes: data, count: size).write(to: url)) != nil else { return 0 }
    defer { try? FileManager.default.removeItem(at: url) }
    _ = try? ModelBundle.readCheckpoint(url)
    return 0
}
