import Foundation

/// Little-endian reads at byte offsets of a buffer; reads past the end give 0, so every caller's
/// bounds check decides what a short file means.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }
    var count: Int { buffer.count }

    func u16(_ offset: Int) -> UInt16 { read(offset) }
    func u32(_ offset: Int) -> UInt32 { read(offset) }
    func u64(_ offset: Int) -> UInt64 { read(offset) }

    private func read<T: FixedWidthInteger>(_ offset: Int) -> T {
        guard offset >= 0, offset <= buffer.count - MemoryLayout<T>.size else { return 0 }
        return T(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    func slice(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        guard offset >= 0, length >= 0, offset <= buffer.count - length else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + length])
    }
}
