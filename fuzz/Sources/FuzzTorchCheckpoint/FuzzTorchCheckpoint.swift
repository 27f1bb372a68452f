import Foundation
import VolSegIO

/// libFuzzer entry: bytes starting with "PK" as a torch.save checkpoint read by TorchCheckpoint
/// (checksums off, so that mutated pickles get past the CRC to the unpickler), anything else as a
/// plain pickle. Every tensor found is read and every value walked, so views and conversions run
/// too. A thrown error is a pass; a crash, a sanitizer report or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    if size >= 2 && bytes[0] == 0x50 && bytes[1] == 0x4B {
        // Written with stdio: Foundation's Data.write took 6 ms here, 30 times the read.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-fuzz-\(getpid()).pth")
        guard let file = fopen(url.path, "wb") else { return 0 }
        let written = fwrite(data, 1, size, file)
        fclose(file)
        defer { unlink(url.path) }
        guard written == size else { return 0 }
        guard let checkpoint = try? TorchCheckpoint(contentsOf: url, verifyChecksums: false) else { return 0 }
        var budget = 1 << 16
        walk(checkpoint.root, budget: &budget)
        _ = try? checkpoint.stateDict(named: "network_weights")
        _ = checkpoint.value(at: "init_args", "configuration")
    } else if let value = try? PickleValue(pickle: bytes, path: "fuzz.pkl") {
        var budget = 1 << 16
        walk(value, budget: &budget)
    }
    return 0
}

/// Visits up to `budget` values, reading tensors of up to 2^16 elements and describing small values.
private func walk(_ value: PickleValue, budget: inout Int) {
    guard budget > 0 else { return }
    budget -= 1
    switch value {
    case .list(let items), .tuple(let items), .set(let items):
        for item in items { walk(item, budget: &budget) }
    case .dict(let entries):
        for entry in entries {
            walk(entry.key, budget: &budget)
            walk(entry.value, budget: &budget)
        }
    case .tensor(let tensor) where tensor.count <= 1 << 16:
        _ = tensor.floats()
        _ = tensor.integers()
        _ = tensor.isContiguous
    default:
        _ = value.description
    }
}
