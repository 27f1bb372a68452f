import FuzzSupport

@_cdecl("FuzzTorchCheckpoint_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in LLVMFuzzerTestOneInput(data, size) }
}
