import Foundation

/// A file written by `torch.save`: nnU-Net v2's checkpoint_final.pth, nnU-Net v1's and STU-Net's
/// .model files, or any state dict saved on its own.
///
/// torch.save writes a zip archive of stored entries: `<name>/data.pkl`, a pickle (protocol 2)
/// of the object, and one `<name>/data/<key>` entry per storage holding its raw little-endian
/// elements. The file is mapped, not read: opening a 4 GiB checkpoint reads its pickle and the
/// zip's directory, and a tensor's elements are touched only when `floats()` asks for them. The
/// pickle is run by VolSeg's restricted unpickler (see PickleRebuilder for what it may call), so
/// opening a checkpoint from anywhere runs none of its code.
///
///     let checkpoint = try TorchCheckpoint(contentsOf: url)
///     let weights = try checkpoint.stateDict(named: "network_weights")
///     let configuration = checkpoint.value(at: "init_args", "configuration")?.string
public struct TorchCheckpoint: Sendable {
    public let path: String
    /// The folder every entry sits in (the file's name without extension, when torch named it).
    public let archiveName: String
    /// The object torch.save was given.
    public let root: PickleValue

    /// A pickle larger than this is refused before it is run. nnU-Net's are a few hundred KB:
    /// the weights live in storages, not in the pickle.
    static let pickleSizeLimit = 256 << 20

    /// Opens and unpickles the checkpoint. With `verifyChecksums` (the default) the CRC-32 of
    /// data.pkl and of every storage a tensor uses is checked first, which reads each once.
    public init(contentsOf url: URL, verifyChecksums: Bool = true) throws {
        try self.init(contentsOf: url, verifyChecksums: verifyChecksums, limits: .standard)
    }

    init(contentsOf url: URL, verifyChecksums: Bool, limits: PickleLimits) throws {
        let path = url.path
        let archive = try StoredZipArchive(file: try MappedFile(path: path))
        // torch.load takes the folder of the first entry as the archive's name.
        guard let first = archive.entries.first else {
            throw TorchCheckpointError.missingEntry(path: path, entry: "data.pkl (the archive is empty)")
        }
        guard let slash = first.name.firstIndex(of: "/") else {
            throw TorchCheckpointError.badZip(path: path, reason: "entry \(first.name) is in no folder; "
                                              + "torch.save puts every entry under one")
        }
        let prefix = String(first.name[..<slash])
        guard let pickleEntry = archive.entry(named: prefix + "/data.pkl") else {
            throw TorchCheckpointError.missingEntry(path: path, entry: prefix + "/data.pkl")
        }
        guard pickleEntry.size <= Self.pickleSizeLimit else {
            throw TorchCheckpointError.limitExceeded(path: path, what: "data.pkl's \(pickleEntry.size) bytes",
                                                     limit: Self.pickleSizeLimit)
        }
        let pickle = try archive.bytes(of: pickleEntry, verify: verifyChecksums)
        // Older torch versions wrote no byteorder entry; their files are little-endian.
        if let order = archive.entry(named: prefix + "/byteorder") {
            let text = String(decoding: try archive.bytes(of: order, verify: verifyChecksums), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" else { throw TorchCheckpointError.unsupportedByteOrder(path: path, found: text) }
        }
        var storages: [String: TorchStorage] = [:]
        var unpickler = Unpickler(bytes: pickle, path: path, limits: limits) { id in
            try Self.storage(for: id, in: archive, prefix: prefix, verify: verifyChecksums, cache: &storages)
        }
        self.path = path
        self.archiveName = prefix
        self.root = try unpickler.load()
    }

    /// The storage a persistent id names: torch's `("storage", torch.FloatStorage, key, location,
    /// numel)`, each key's entry mapped once.
    private static func storage(for id: PickleItem, in archive: StoredZipArchive, prefix: String, verify: Bool,
                                cache: inout [String: TorchStorage]) throws -> PickleItem {
        guard let fields = id.sequence, fields.count == 5, fields[0].string == "storage",
              case .value(.global(let module, let className)) = fields[1],
              let key = fields[2].string, let location = fields[3].string, let elementCount = fields[4].int else {
            throw PickleFault.malformed("a persistent id that is not torch's (\"storage\", type, key, location, numel)")
        }
        guard module == "torch", let dtype = TorchDType(storageClass: className) else {
            throw PickleFault.unsupportedDType("\(module).\(className)")
        }
        if let known = cache[key] {
            guard known.dtype == dtype else {
                throw PickleFault.storageOutOfRange(key: key, reason: "read as \(known.dtype.rawValue) and as \(dtype.rawValue)")
            }
            return .storage(known)
        }
        let name = prefix + "/data/" + key
        guard let entry = archive.entry(named: name) else {
            throw TorchCheckpointError.missingEntry(path: archive.file.path, entry: name)
        }
        let (byteCount, overflow) = Int(clamping: elementCount).multipliedReportingOverflow(by: dtype.byteCount)
        guard elementCount >= 0, !overflow, byteCount <= entry.size else {
            throw PickleFault.storageOutOfRange(key: key, reason: "declares \(elementCount) \(dtype.rawValue) elements, "
                                                + "\(name) holds \(entry.size) bytes")
        }
        let bytes = try archive.bytes(of: entry, verify: verify)
        let storage = TorchStorage(dtype: dtype, key: key, location: location, elementCount: Int(elementCount),
                                   bytes: bytes, mapping: archive.file)
        cache[key] = storage
        return .storage(storage)
    }

    /// The value under a path of string keys from the root (`value(at: "init_args", "plans")`),
    /// or nil where a key is missing or a value is no dict.
    public func value(at keys: String...) -> PickleValue? {
        var value = root
        for key in keys {
            guard let next = value[key] else { return nil }
            value = next
        }
        return value
    }

    /// The (name, tensor) pairs of the state dict under `key` of the root dict, in the file's
    /// order: "network_weights" for nnU-Net v2, "state_dict" for nnU-Net v1 and STU-Net.
    public func stateDict(named key: String) throws -> [(name: String, tensor: TorchTensor)] {
        guard let value = root[key] else {
            let keys = root.dictEntries?.compactMap { $0.key.string } ?? []
            throw TorchCheckpointError.notAStateDict(
                path: path, key: key,
                reason: keys.isEmpty ? "the checkpoint holds \(root.kindName), not a dict"
                                     : "the checkpoint has no such key (it has \(keys.joined(separator: ", ")))")
        }
        guard let entries = value.dictEntries else {
            throw TorchCheckpointError.notAStateDict(path: path, key: key, reason: "it holds \(value.kindName), not a dict")
        }
        return try entries.map { entry in
            guard let name = entry.key.string else {
                throw TorchCheckpointError.notAStateDict(path: path, key: key, reason: "a key is \(entry.key.kindName), not a str")
            }
            guard let tensor = entry.value.tensor else {
                throw TorchCheckpointError.notAStateDict(path: path, key: key,
                                                         reason: "\(name) holds \(entry.value.kindName), not a tensor")
            }
            return (name, tensor)
        }
    }
}

extension PickleValue {
    /// What the value is, in Python's words, for messages.
    var kindName: String { PickleItem.value(self).kindName }
}
