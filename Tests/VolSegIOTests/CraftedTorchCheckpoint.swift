import CZlib
import Foundation

/// Checkpoints built byte by byte for the tests: a stored zip laid out as torch.save lays it out,
/// holding a pickle written opcode by opcode. Every size and offset goes in zip64 extra fields,
/// so the same writer also makes the file past 4 GiB.
enum CraftedTorchCheckpoint {
    /// A stored zip of `entries` under the folder "archive".
    static func archive(_ entries: [(name: String, bytes: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            let offset = UInt64(out.count)
            let crc = entry.bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
            out += localHeader(name: entry.name, size: UInt64(entry.bytes.count), crc: crc) + entry.bytes
            central += centralHeader(name: entry.name, size: UInt64(entry.bytes.count), crc: crc, offset: offset)
        }
        return out + directoryEnd(central: central, at: UInt64(out.count), entries: entries.count)
    }

    /// A torch-like checkpoint: data.pkl, byteorder, storages `data/<key>` and version.
    static func checkpoint(pickle: [UInt8], storages: [(key: String, bytes: [UInt8])] = [],
                           byteOrder: String = "little") -> [UInt8] {
        archive([("archive/data.pkl", pickle), ("archive/byteorder", Array(byteOrder.utf8))]
                + storages.map { ("archive/data/\($0.key)", $0.bytes) } + [("archive/version", Array("3\n".utf8))])
    }

    static func localHeader(name: String, size: UInt64, crc: UInt32) -> [UInt8] {
        let nameBytes = Array(name.utf8)
        return le(UInt32(0x0403_4B50)) + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(crc)
            + le(UInt32.max) + le(UInt32.max) + le(UInt16(nameBytes.count)) + le(UInt16(20)) + nameBytes
            + le(UInt16(1)) + le(UInt16(16)) + le(size) + le(size)
    }

    static func centralHeader(name: String, size: UInt64, crc: UInt32, offset: UInt64) -> [UInt8] {
        let nameBytes = Array(name.utf8)
        return le(UInt32(0x0201_4B50)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0))
            + le(crc) + le(UInt32.max) + le(UInt32.max) + le(UInt16(nameBytes.count)) + le(UInt16(28)) + le(UInt16(0))
            + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(UInt32.max) + nameBytes
            + le(UInt16(1)) + le(UInt16(24)) + le(size) + le(size) + le(offset)
    }

    /// The central directory, a zip64 end record and locator, and the classic end record.
    static func directoryEnd(central: [UInt8], at offset: UInt64, entries: Int) -> [UInt8] {
        let end64 = offset + UInt64(central.count)
        return central
            + le(UInt32(0x0606_4B50)) + le(UInt64(44)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt32(0)) + le(UInt32(0))
            + le(UInt64(entries)) + le(UInt64(entries)) + le(UInt64(central.count)) + le(offset)
            + le(UInt32(0x0706_4B50)) + le(UInt32(0)) + le(end64) + le(UInt32(1))
            + le(UInt32(0x0605_4B50)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16.max) + le(UInt16.max)
            + le(UInt32.max) + le(UInt32.max) + le(UInt16(0))
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    // MARK: pickle pieces (protocol 2 opcodes)

    static let proto2: [UInt8] = [0x80, 0x02]
    static func unicode(_ text: String) -> [UInt8] { [0x58] + le(UInt32(text.utf8.count)) + Array(text.utf8) }
    static func global(_ module: String, _ name: String) -> [UInt8] { Array("c\(module)\n\(name)\n".utf8) }
    static func int(_ value: UInt8) -> [UInt8] { [0x4B, value] }

    /// `_rebuild_tensor_v2(("storage", torch.<type>, key, "cpu", numel), offset, size, stride, False, OrderedDict())`.
    static func tensor(storageType: String = "FloatStorage", key: String, numel: UInt8, offset: UInt8 = 0,
                       size: [UInt8], stride: [UInt8]) -> [UInt8] {
        global("torch._utils", "_rebuild_tensor_v2") + [0x28, 0x28] + unicode("storage") + global("torch", storageType)
            + unicode(key) + unicode("cpu") + int(numel) + [0x74, 0x51] + int(offset)
            + [0x28] + size.flatMap(int) + [0x74] + [0x28] + stride.flatMap(int) + [0x74]
            + [0x89] + global("collections", "OrderedDict") + [0x29, 0x52, 0x74, 0x52]
    }

    static func floats(_ values: [Float]) -> [UInt8] { values.flatMap { le($0.bitPattern) } }
}
