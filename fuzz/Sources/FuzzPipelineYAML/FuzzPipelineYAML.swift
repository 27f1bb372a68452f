import Foundation
import VolSegTraining

/// libFuzzer entry: the bytes as a pipeline file parsed by VolSeg's YAML reader and validated.
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    guard let text = String(data: Data(bytes: data, count: size), encoding: .utf8) else { return 0 }
    _ = try? PipelineConfig.parse(text, path: "fuzz.yaml")
    return 0
}
