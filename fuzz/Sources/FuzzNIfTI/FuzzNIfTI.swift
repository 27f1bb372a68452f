import Foundation
import VolSegIO

/// libFuzzer entry: the bytes as a single-file .nii (or, when they start with gzip's magic, a
/// .nii.gz) read by VolSeg's NIfTI reader. Any thrown error is a pass; a crash, a sanitizer report
/// or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    let gzip = size >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("volseg-fuzz-\(getpid())" + (gzip ? ".nii.gz" : ".nii"))
    guard (try? bytes.write(to: url)) != nil else { return 0 }
    defer { try? FileManager.default.removeItem(at: url) }
    if let header = try? NIfTIReader.readHeader(url), header.voxelCount <= 1 << 22 {
        _ = try? NIfTIReader.read(url)
    }
    return 0
}
