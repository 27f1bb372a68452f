import CZlib
import Foundation

/// The central directory of a zip archive whose entries are stored uncompressed, as torch.save
/// writes them, read from a mapped file.
///
/// Our own reader rather than a library (Debian's libzip would add a system dependency): torch
/// writes stored entries only, so no inflate is needed; the reader must follow zip64 records, since
/// STU-Net-H checkpoints pass 4 GiB; and it must hand out each entry as an offset into the mapped
/// file so storages are used in place, which archive libraries hide behind a read call. That is
/// the central directory, the local headers and zip64's records: about 200 lines.
struct StoredZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let flags: UInt16
        let crc32: UInt32
        let size: Int
        /// Where the entry's bytes start in the file (after its local header).
        let dataOffset: Int
    }

    let file: MappedFile
    /// In central-directory order.
    let entries: [Entry]
    private let index: [String: Int]

    private static let localHeader: UInt32 = 0x0403_4B50
    private static let centralHeader: UInt32 = 0x0201_4B50
    private static let endRecord: UInt32 = 0x0605_4B50
    private static let zip64EndRecord: UInt32 = 0x0606_4B50
    private static let zip64Locator: UInt32 = 0x0706_4B50

    init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        let bytes = ByteReader(file.bytes(0..<file.count))
        guard file.count >= 4, bytes.u32(0) == Self.localHeader || bytes.u32(0) == Self.endRecord else {
            throw Self.notZipError(bytes, path: path)
        }
        // The end record is the last 22 bytes plus a comment of up to 65535: search backwards,
        // taking the first signature whose comment length reaches exactly to the end of the file.
        var end: Int?
        var candidate = file.count - 22
        while candidate >= max(0, file.count - 22 - 0xFFFF) {
            if bytes.u32(candidate) == Self.endRecord, candidate + 22 + Int(bytes.u16(candidate + 20)) == file.count {
                end = candidate
                break
            }
            candidate -= 1
        }
        guard let end else {
            throw TorchCheckpointError.truncated(path: path, reason: "no end-of-central-directory record "
                                                 + "(the file stops after \(file.count) bytes)")
        }
        var entryCount = UInt64(bytes.u16(end + 10))
        var directorySize = UInt64(bytes.u32(end + 12))
        var directoryOffset = UInt64(bytes.u32(end + 16))
        // torch writes a zip64 end record on every file; its figures replace the 16- and 32-bit ones.
        if end >= 20, bytes.u32(end - 20) == Self.zip64Locator {
            let record64 = bytes.u64(end - 12)
            guard end - 20 - 56 >= 0, record64 <= UInt64(end - 20 - 56), bytes.u32(Int(record64)) == Self.zip64EndRecord else {
                throw TorchCheckpointError.badZip(path: path, reason: "the zip64 locator points at no zip64 end record")
            }
            entryCount = bytes.u64(Int(record64) + 32)
            directorySize = bytes.u64(Int(record64) + 40)
            directoryOffset = bytes.u64(Int(record64) + 48)
        } else if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            throw TorchCheckpointError.truncated(path: path, reason: "the end record defers to a zip64 record that is not there")
        }
        guard directoryOffset <= UInt64(end), directorySize <= UInt64(end) - directoryOffset else {
            throw TorchCheckpointError.truncated(path: path, reason: "the central directory (\(directorySize) bytes at "
                                                 + "\(directoryOffset)) lies past the end record at \(end)")
        }
        // Each central header takes at least 46 bytes, which bounds a hostile entry count.
        guard entryCount <= directorySize / 46 else {
            throw TorchCheckpointError.badZip(path: path, reason: "\(entryCount) entries cannot fit in a "
                                              + "\(directorySize)-byte central directory")
        }
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        entries.reserveCapacity(Int(entryCount))
        var position = Int(directoryOffset)
        let directoryEnd = Int(directoryOffset + directorySize)
        for _ in 0..<Int(entryCount) {
            let entry = try Self.readCentralHeader(bytes, at: &position, directoryEnd: directoryEnd,
                                                   dataLimit: Int(directoryOffset), path: path)
            guard index[entry.name] == nil else {
                throw TorchCheckpointError.badZip(path: path, reason: "two entries are named \(entry.name)")
            }
            index[entry.name] = entries.count
            entries.append(entry)
        }
        self.entries = entries
        self.index = index
    }

    private static func readCentralHeader(_ bytes: ByteReader, at position: inout Int, directoryEnd: Int,
                                          dataLimit: Int, path: String) throws -> Entry {
        guard position + 46 <= directoryEnd, bytes.u32(position) == centralHeader else {
            throw TorchCheckpointError.badZip(path: path, reason: "no central directory header at byte \(position)")
        }
        let flags = bytes.u16(position + 8)
        let method = bytes.u16(position + 10)
        let crc = bytes.u32(position + 16)
        var compressedSize = UInt64(bytes.u32(position + 20))
        var size = UInt64(bytes.u32(position + 24))
        let nameLength = Int(bytes.u16(position + 28))
        let extraLength = Int(bytes.u16(position + 30))
        let commentLength = Int(bytes.u16(position + 32))
        var localOffset = UInt64(bytes.u32(position + 42))
        let nameStart = position + 46
        guard nameStart + nameLength + extraLength + commentLength <= directoryEnd else {
            throw TorchCheckpointError.badZip(path: path, reason: "a central directory header runs past the directory")
        }
        let name = String(decoding: bytes.slice(nameStart, nameLength), as: UTF8.self)
        // zip64 extra field (id 1): the 64-bit figures, in this order, for exactly those fields
        // whose 32-bit slot holds 0xFFFFFFFF.
        var extra = nameStart + nameLength
        let extraEnd = extra + extraLength
        while extra + 4 <= extraEnd {
            let id = bytes.u16(extra), length = Int(bytes.u16(extra + 2))
            guard extra + 4 + length <= extraEnd else { break }
            if id == 1 {
                var field = extra + 4
                func next() throws -> UInt64 {
                    guard field + 8 <= extra + 4 + length else {
                        throw TorchCheckpointError.badZip(path: path, reason: "\(name)'s zip64 extra field is too short")
                    }
                    defer { field += 8 }
                    return bytes.u64(field)
                }
                if size == 0xFFFF_FFFF { size = try next() }
                if compressedSize == 0xFFFF_FFFF { compressedSize = try next() }
                if localOffset == 0xFFFF_FFFF { localOffset = try next() }
            }
            extra += 4 + length
        }
        position = extraEnd + commentLength
        guard size != 0xFFFF_FFFF, compressedSize != 0xFFFF_FFFF, localOffset != 0xFFFF_FFFF else {
            throw TorchCheckpointError.badZip(path: path, reason: "\(name) defers its size or offset to a zip64 field it lacks")
        }
        // Entry data must lie before the central directory.
        let local = Int(clamping: localOffset)
        guard local <= dataLimit - 30, bytes.u32(local) == localHeader else {
            throw TorchCheckpointError.badZip(path: path, reason: "\(name)'s local header is not at byte \(localOffset)")
        }
        let dataOffset = local + 30 + Int(bytes.u16(local + 26)) + Int(bytes.u16(local + 28))
        guard dataOffset <= dataLimit, compressedSize <= UInt64(dataLimit - dataOffset) else {
            throw TorchCheckpointError.truncated(path: path, reason: "\(name) needs \(compressedSize) bytes at "
                                                 + "\(dataOffset), the data ends at \(dataLimit)")
        }
        guard method != 0 || compressedSize == size else {
            throw TorchCheckpointError.badZip(path: path, reason: "stored entry \(name) has sizes \(compressedSize) and \(size)")
        }
        return Entry(name: name, method: method, flags: flags, crc32: crc, size: Int(compressedSize), dataOffset: dataOffset)
    }

    func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The entry's bytes in place, refusing compressed and encrypted entries; with `verify`, its
    /// CRC-32 is checked first (a pass over the bytes, which also pages them in).
    func bytes(of entry: Entry, verify: Bool) throws -> UnsafeRawBufferPointer {
        guard entry.flags & 1 == 0 else {
            throw TorchCheckpointError.encryptedEntry(path: file.path, entry: entry.name)
        }
        guard entry.method == 0 else {
            throw TorchCheckpointError.compressedEntry(path: file.path, entry: entry.name, method: Int(entry.method))
        }
        let bytes = file.bytes(entry.dataOffset..<entry.dataOffset + entry.size)
        if verify {
            let computed = Self.crc32(of: bytes)
            guard computed == entry.crc32 else {
                throw TorchCheckpointError.checksumMismatch(path: file.path, entry: entry.name,
                                                            stored: entry.crc32, computed: computed)
            }
        }
        return bytes
    }

    static func crc32(of bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CZlib.crc32(0, nil, 0)
        var offset = 0
        // zlib's length is a 32-bit uInt: feed it 1 GiB at a time.
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(chunk))
            offset += chunk
        }
        return UInt32(crc)
    }

    /// What a file that is no zip looks like: torch's legacy formats by name, anything else by its bytes.
    private static func notZipError(_ bytes: ByteReader, path: String) -> TorchCheckpointError {
        // torch < 1.6 pickled a magic number first: PROTO 2, LONG1 of 10 bytes, 0x1950a86a20f9469cfc6c.
        let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
        if bytes.count >= legacyMagic.count, Array(bytes.slice(0, legacyMagic.count)) == legacyMagic {
            return .legacyFormat(path: path, layout: "a pickle stream with storages appended")
        }
        if bytes.count >= 262, Array(bytes.slice(257, 5)) == Array("ustar".utf8) {
            return .legacyFormat(path: path, layout: "a tar archive of torch < 0.4")
        }
        if bytes.count == 0 { return .notZip(path: path, found: "nothing (it is empty)") }
        let head = bytes.slice(0, min(bytes.count, 8)).map { String(format: "%02x", $0) }.joined(separator: " ")
        return .notZip(path: path, found: "bytes \(head)")
    }
}
