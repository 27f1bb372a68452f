import Foundation

/// A reference-counted Float32 buffer, registered with the memory ledger for its whole life.
///
/// A *planned* storage has a size but no memory: it lets a model run in planning mode, where
/// kernels allocate exactly what they would allocate for real and skip the arithmetic.
public final class TensorStorage: @unchecked Sendable {
    public let count: Int
    /// nil for a planned (shape-only) storage.
    public let pointer: UnsafeMutablePointer<Float>?
    let ledger: MemoryLedger

    public var isPlanned: Bool { pointer == nil }
    public var byteCount: Int { count * MemoryLayout<Float>.stride }

    /// Allocates `count` floats (zeroed when `zeroed`), or a planned storage when `planned`.
    public init(count: Int, planned: Bool, zeroed: Bool = false, ledger: MemoryLedger = .shared) {
        precondition(count >= 0, "negative storage size \(count)")
        self.count = count
        self.ledger = ledger
        if planned {
            pointer = nil
        } else {
            // 64-byte alignment: one cache line, and aligned loads for any SIMD width.
            let bytes = max(count, 1) * MemoryLayout<Float>.stride
            let raw = BufferCache.shared.take(bytes: bytes)
            if zeroed { memset(raw, 0, bytes) }
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        }
        ledger.register(bytes: count * MemoryLayout<Float>.stride)
    }

    deinit {
        ledger.release(bytes: byteCount)
        if let pointer {
            BufferCache.shared.give(UnsafeMutableRawPointer(pointer), bytes: max(count, 1) * MemoryLayout<Float>.stride,
                                    ledger: ledger)
        }
    }
}
