import Foundation

/// Why a PyTorch checkpoint (`torch.save`'s zip: nnU-Net's checkpoint_final.pth, a v1 .model) was
/// refused. Each message names the file and what was wrong with it, so a user handed a
/// checkpoint by someone else can tell a damaged download from a file VolSeg will not load.
public enum TorchCheckpointError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case missingFile(path: String)
    /// The file exists but could not be opened or mapped (a folder, no permission, ...).
    case unreadable(path: String, reason: String)
    /// Not a zip archive at all; `found` describes the first bytes.
    case notZip(path: String, found: String)
    /// torch.save's format before torch 1.6 (a pickle stream, or the older tar layout), which
    /// torch still writes with `_use_new_zipfile_serialization=False`.
    case legacyFormat(path: String, layout: String)
    /// The zip's structure points past the end of the file.
    case truncated(path: String, reason: String)
    /// The zip's records contradict themselves (sizes, offsets, signatures, duplicate names).
    case badZip(path: String, reason: String)
    case missingEntry(path: String, entry: String)
    /// torch.save stores every entry uncompressed so that storages can be mapped in place; an
    /// entry compressed with `method` (8 = deflate) was written by something else.
    case compressedEntry(path: String, entry: String, method: Int)
    case encryptedEntry(path: String, entry: String)
    case checksumMismatch(path: String, entry: String, stored: UInt32, computed: UInt32)
    /// The archive's `byteorder` entry names an order other than little-endian.
    case unsupportedByteOrder(path: String, found: String)
    case unknownOpcode(path: String, opcode: UInt8, offset: Int)
    /// The pickle is well-formed bytes but not a well-formed program (a stack underflow, a memo
    /// key never stored, a tensor rebuilt from a string, ...). `offset` is the opcode's position.
    case malformedPickle(path: String, offset: Int, reason: String)
    /// The pickle asks to call (REDUCE, NEWOBJ, INST, OBJ, BUILD, ...) something outside the
    /// allow-list of rebuilders. Nothing from the file is ever run; this names what it wanted.
    case forbiddenCallable(path: String, name: String)
    /// A bound that keeps a hostile file from exhausting memory or the stack: `what` is the
    /// quantity, `limit` its bound.
    case limitExceeded(path: String, what: String, limit: Int)
    case unsupportedDType(path: String, name: String)
    /// A tensor view, or a storage's declared size, reaches past the bytes that hold it.
    case storageOutOfRange(path: String, key: String, reason: String)
    /// `stateDict(named:)` found no dict of tensors under `key`.
    case notAStateDict(path: String, key: String, reason: String)

    public var path: String {
        switch self {
        case .missingFile(let p), .unreadable(let p, _), .notZip(let p, _), .legacyFormat(let p, _),
             .truncated(let p, _), .badZip(let p, _), .missingEntry(let p, _), .compressedEntry(let p, _, _),
             .encryptedEntry(let p, _), .checksumMismatch(let p, _, _, _), .unsupportedByteOrder(let p, _),
             .unknownOpcode(let p, _, _), .malformedPickle(let p, _, _), .forbiddenCallable(let p, _),
             .limitExceeded(let p, _, _), .unsupportedDType(let p, _), .storageOutOfRange(let p, _, _),
             .notAStateDict(let p, _, _):
            return p
        }
    }

    public var description: String {
        switch self {
        case .missingFile(let p):
            return "\(p): no such file"
        case .unreadable(let p, let reason):
            return "\(p): cannot read the checkpoint: \(reason)"
        case .notZip(let p, let found):
            return "\(p): not a PyTorch checkpoint: torch.save writes a zip archive, this file starts with \(found)"
        case .legacyFormat(let p, let layout):
            return "\(p): PyTorch's legacy checkpoint format (\(layout)), written by torch < 1.6 or with "
                + "_use_new_zipfile_serialization=False; VolSeg reads only the zip format: load it in Python "
                + "and save it again with torch.save(obj, path)"
        case .truncated(let p, let reason):
            return "\(p): truncated checkpoint: \(reason)"
        case .badZip(let p, let reason):
            return "\(p): damaged zip archive: \(reason)"
        case .missingEntry(let p, let entry):
            return "\(p): the archive has no \(entry)"
        case .compressedEntry(let p, let entry, let method):
            return "\(p): \(entry) is compressed (zip method \(method)); torch.save stores entries uncompressed, "
                + "so this archive was rewritten by another tool: unzip it and zip it again with -0 (store)"
        case .encryptedEntry(let p, let entry):
            return "\(p): \(entry) is encrypted"
        case .checksumMismatch(let p, let entry, let stored, let computed):
            return "\(p): \(entry) is damaged: its CRC-32 is \(String(format: "%08x", computed)), "
                + "the archive recorded \(String(format: "%08x", stored))"
        case .unsupportedByteOrder(let p, let found):
            return "\(p): storages are \(found)-endian; VolSeg reads little-endian checkpoints"
        case .unknownOpcode(let p, let opcode, let offset):
            return "\(p): unknown pickle opcode 0x\(String(format: "%02x", opcode)) at byte \(offset) of data.pkl"
        case .malformedPickle(let p, let offset, let reason):
            return "\(p): malformed pickle at byte \(offset) of data.pkl: \(reason)"
        case .forbiddenCallable(let p, let name):
            return "\(p): forbidden callable \(name): the checkpoint asks to call it, and VolSeg calls only the "
                + "torch, numpy and collections rebuilders on its allow-list (nothing in the file is run)"
        case .limitExceeded(let p, let what, let limit):
            return "\(p): \(what) exceeds VolSeg's limit of \(limit)"
        case .unsupportedDType(let p, let name):
            return "\(p): unsupported element type \(name); VolSeg reads float32, float16, bfloat16, float64, "
                + "int64, int32, int16, int8, uint8 and bool"
        case .storageOutOfRange(let p, let key, let reason):
            return "\(p): storage \(key): \(reason)"
        case .notAStateDict(let p, let key, let reason):
            return "\(p): \(key) is not a state dict: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
