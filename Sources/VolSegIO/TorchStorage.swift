import Foundation

/// The elements behind one or more tensors: a `data/<key>` entry of a checkpoint, used in place
/// in the mapped file, or the bytes of a numpy array, which arrive inside the pickle and are
/// copied out of it once.
final class TorchStorage: @unchecked Sendable {
    let dtype: TorchDType
    /// The archive key (`data/0`'s "0"), or "numpy" for an array's own bytes.
    let key: String
    /// Where torch.save found the storage ("cpu", "cuda:0").
    let location: String
    let elementCount: Int
    let base: UnsafeRawPointer?
    private let mapping: MappedFile?
    private let owned: UnsafeMutableRawPointer?

    /// Elements in place in a mapped file.
    init(dtype: TorchDType, key: String, location: String, elementCount: Int,
         bytes: UnsafeRawBufferPointer, mapping: MappedFile) {
        precondition(elementCount * dtype.byteCount <= bytes.count, "storage \(key) larger than its entry")
        self.dtype = dtype
        self.key = key
        self.location = location
        self.elementCount = elementCount
        self.base = bytes.baseAddress
        self.mapping = mapping
        self.owned = nil
    }

    /// A copy of `bytes` (a numpy array's), byte-swapped per element when `bigEndian`.
    init(dtype: TorchDType, copying bytes: UnsafeRawBufferPointer, bigEndian: Bool) {
        let count = bytes.count / dtype.byteCount
        self.dtype = dtype
        self.key = "numpy"
        self.location = "cpu"
        self.elementCount = count
        self.mapping = nil
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(1, count * dtype.byteCount), alignment: 16)
        if count > 0 { memory.copyMemory(from: bytes.baseAddress!, byteCount: count * dtype.byteCount) }
        if bigEndian && dtype.byteCount > 1 {
            let width = dtype.byteCount
            for element in 0..<count {
                let start = memory + element * width
                for i in 0..<width / 2 {
                    let a = start.load(fromByteOffset: i, as: UInt8.self)
                    start.storeBytes(of: start.load(fromByteOffset: width - 1 - i, as: UInt8.self), toByteOffset: i, as: UInt8.self)
                    start.storeBytes(of: a, toByteOffset: width - 1 - i, as: UInt8.self)
                }
            }
        }
        self.owned = memory
        self.base = UnsafeRawPointer(memory)
    }

    deinit { owned?.deallocate() }
}
