import Foundation
import VolSegCore
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Checkpoints written by torch.save itself (Tests/References/torch, made by
/// make_checkpoints.py with torch 2.15 and numpy 2.4): every value read is rendered in the
/// script's canonical text and compared with what Python held before saving, tensor elements
/// exactly (float32 bit patterns after torch's own `.float()`, int64 values).
final class TorchCheckpointTests: XCTestCase {
    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/torch")

    static func expected(_ name: String) throws -> String {
        let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let values = try XCTUnwrap(json["values"] as? [String: String])
        return try XCTUnwrap(values[name], "expected.json has no \(name)")
    }

    static func open(_ name: String) throws -> TorchCheckpoint {
        try TorchCheckpoint(contentsOf: folder.appendingPathComponent(name))
    }

    /// make_checkpoints.py's `canon`, for a value VolSeg read.
    static func canon(_ value: PickleValue) -> String {
        switch value {
        case .none: return "N"
        case .bool(let flag): return flag ? "T" : "F"
        case .int(let number): return "i\(number)"
        case .bigInt(let digits): return "i" + digits
        case .float(let number): return "f" + String(format: "%016llx", number.bitPattern)
        case .string(let text):
            return "s\"" + text.unicodeScalars.map { scalar in
                (32..<127).contains(scalar.value) && scalar != "\"" && scalar != "\\"
                    ? String(scalar) : "\\u{\(String(scalar.value, radix: 16))}"
            }.joined() + "\""
        case .bytes(let bytes): return "b" + bytes.map { String(format: "%02x", $0) }.joined()
        case .list(let items): return "[" + items.map(canon).joined(separator: ",") + "]"
        case .tuple(let items): return "(" + items.map(canon).joined(separator: ",") + ")"
        case .set(let items): return "set(" + items.map(canon).sorted().joined(separator: ",") + ")"
        case .dict(let entries): return "{" + entries.map { canon($0.key) + ":" + canon($0.value) }.joined(separator: ",") + "}"
        case .tensor(let tensor):
            let values = tensor.integers().map { $0.map(String.init) }
                ?? tensor.floats().map { String(format: "x%08x", $0.bitPattern) }
            return "tensor(\(tensor.dtype.rawValue);\(tensor.shape.map(String.init).joined(separator: ","));"
                + values.joined(separator: ",") + ")"
        case .device(let name): return "device(\(name))"
        case .numpyDType(let code): return "dtype(\(code))"
        case .global(let module, let name): return "global(\(module).\(name))"
        }
    }

    func assertReadsAsWritten(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ours = Self.canon(try Self.open(name).root)
        let theirs = try Self.expected(name)
        XCTAssertEqual(ours, theirs, "\(name) differs from what torch saved", file: file, line: line)
    }

    func testEveryDTypeReadsAsTorchWroteIt() throws {
        try assertReadsAsWritten("dtypes.pth")
        let checkpoint = try Self.open("dtypes.pth")
        XCTAssertEqual(checkpoint.archiveName, "dtypes")
        let half = try XCTUnwrap(checkpoint.value(at: "float16")?.tensor)
        XCTAssertEqual(half.dtype, .float16)
        XCTAssertEqual(half.shape, [2, 2, 2])
        // 65504 is float16's largest finite value; 6e-8 its smallest subnormal (2^-24).
        XCTAssertEqual(half.floats()[3], 65504)
        XCTAssertEqual(half.floats()[4], 0x1p-24)
        XCTAssertEqual(try XCTUnwrap(checkpoint.value(at: "int64")?.tensor?.integers()), [0, -1, (1 << 62) + 3, .min, .max])
    }

    func testNonContiguousAndSharedViewsReadInRowMajorOrder() throws {
        try assertReadsAsWritten("views.pth")
        let checkpoint = try Self.open("views.pth")
        let base = try XCTUnwrap(checkpoint.value(at: "base")?.tensor)
        let window = try XCTUnwrap(checkpoint.value(at: "window")?.tensor)
        let transposed = try XCTUnwrap(checkpoint.value(at: "transposed")?.tensor)
        let expanded = try XCTUnwrap(checkpoint.value(at: "expanded")?.tensor)
        // One storage behind all of them, as torch saved it once.
        XCTAssertEqual(window.storageKey, base.storageKey)
        XCTAssertEqual(window.storageOffset, 4)
        XCTAssertTrue(window.isContiguous)
        XCTAssertEqual(transposed.strides, [1, 6])
        XCTAssertFalse(transposed.isContiguous)
        XCTAssertEqual(Array(transposed.floats().prefix(5)), [0, 6, 12, 18, 1])
        XCTAssertEqual(expanded.strides, [1, 0])
        XCTAssertEqual(expanded.floats(), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
        XCTAssertEqual(checkpoint.value(at: "base_again")?.tensor, base)
        XCTAssertEqual(checkpoint.value(at: "scalar")?.tensor?.shape, [])
        XCTAssertEqual(checkpoint.value(at: "scalar")?.tensor?.floats(), [3.5])
        XCTAssertEqual(checkpoint.value(at: "empty")?.tensor?.floats(), [])
        // VolSeg's own tensor gets the same values.
        let core = Tensor(transposed)
        XCTAssertEqual(core.shape, [6, 4])
        XCTAssertEqual(core.toArray(), transposed.floats())
    }

    func testNestedPythonValuesAndNumpyScalarsDecode() throws {
        try assertReadsAsWritten("nested.pth")
        let checkpoint = try Self.open("nested.pth")
        XCTAssertEqual(checkpoint.value(at: "numpy_float64"), .float(0.8125))
        XCTAssertEqual(checkpoint.value(at: "numpy_int64"), .int(-123_456_789_012))
        XCTAssertEqual(checkpoint.value(at: "device"), .device("cuda:0"))
        XCTAssertEqual(checkpoint.value(at: "dtype"), .global(module: "torch", name: "float16"))
        XCTAssertEqual(checkpoint.value(at: "deep", "a", "b", "c")?.items?.count, 4)
        XCTAssertNil(checkpoint.value(at: "deep", "missing"))
        // numpy's Fortran-order array reads in row-major order.
        XCTAssertEqual(checkpoint.value(at: "numpy_fortran")?.tensor?.floats(), [0, 1, 2, 3, 4, 5])
    }

    func testNumpyOneModuleNamesReadLikeNumpyTwo() throws {
        try assertReadsAsWritten("numpy_core.pth")
    }

    func testNNUNetV2CheckpointFinal() throws {
        try assertReadsAsWritten("nnunet_v2.pth")
        let checkpoint = try Self.open("nnunet_v2.pth")
        let weights = try checkpoint.stateDict(named: "network_weights")
        XCTAssertEqual(weights.map(\.name), [
            "encoder.stages.0.0.convs.0.conv.weight", "encoder.stages.0.0.convs.0.conv.bias",
            "encoder.stages.0.0.convs.0.norm.weight", "encoder.stages.0.0.convs.0.norm.bias",
            "decoder.transpconvs.0.weight", "decoder.transpconvs.0.bias",
            "decoder.seg_layers.0.weight", "decoder.seg_layers.0.bias",
            "decoder.bn.weight", "decoder.bn.bias", "decoder.bn.running_mean", "decoder.bn.running_var",
            "decoder.bn.num_batches_tracked",
        ])
        XCTAssertEqual(weights[0].tensor.shape, [2, 1, 3, 3, 3])
        XCTAssertEqual(weights[12].tensor.dtype, .int64)
        XCTAssertEqual(weights[12].tensor.integers(), [1])
        XCTAssertEqual(checkpoint.value(at: "init_args", "configuration"), .string("3d_fullres"))
        XCTAssertEqual(checkpoint.value(at: "init_args", "device"), .device("cuda"))
        XCTAssertEqual(checkpoint.value(at: "init_args", "plans", "configurations", "3d_fullres", "patch_size"),
                       .list([.int(128), .int(128), .int(128)]))
        XCTAssertEqual(checkpoint.value(at: "inference_allowed_mirroring_axes"), .tuple([.int(0), .int(1), .int(2)]))
        XCTAssertEqual(checkpoint.value(at: "current_epoch")?.int, 1000)
        XCTAssertEqual(checkpoint.value(at: "trainer_name")?.string, "nnUNetTrainer")
        XCTAssertEqual(checkpoint.value(at: "_best_ema")?.double, 0.5125)
        XCTAssertEqual(checkpoint.value(at: "grad_scaler_state"), PickleValue.none)
        // SGD's momentum buffers are tensors too, under integer keys.
        let state = try XCTUnwrap(checkpoint.value(at: "optimizer_state", "state")?.dictEntries)
        XCTAssertEqual(state.first?.key, .int(0))
        XCTAssertEqual(state.first?.value["momentum_buffer"]?.tensor?.shape, [2, 1, 3, 3, 3])
    }

    func testNNUNetV1ModelStateDict() throws {
        try assertReadsAsWritten("nnunet_v1.model")
        let checkpoint = try Self.open("nnunet_v1.model")
        let weights = try checkpoint.stateDict(named: "state_dict")
        XCTAssertEqual(weights.count, 13)
        XCTAssertEqual(weights.last?.name, "decoder.bn.num_batches_tracked")
        XCTAssertEqual(checkpoint.value(at: "epoch")?.int, 1000)
        XCTAssertEqual(checkpoint.value(at: "best_stuff")?.items?.last, .float(0.8125))
    }

    func testStateDictErrorsNameTheKey() throws {
        let checkpoint = try Self.open("nnunet_v2.pth")
        XCTAssertThrowsError(try checkpoint.stateDict(named: "state_dict")) { error in
            guard case .notAStateDict(_, "state_dict", let reason) = error as? TorchCheckpointError else {
                return XCTFail("\(error)")
            }
            XCTAssertTrue(reason.contains("network_weights"), reason)
        }
        XCTAssertThrowsError(try checkpoint.stateDict(named: "init_args")) { error in
            XCTAssertTrue("\(error)".contains("plans holds a dict, not a tensor"), "\(error)")
        }
    }

    func testZip64RecordsAndExtraFieldsRead() throws {
        // The same entries as dtypes.pth, every size and offset in zip64 extra fields, unaligned.
        try assertReadsAsWritten("zip64.pth")
    }

    func testPickleOfEveryProtocolReadsTheSame() throws {
        for version in 0...5 {
            let name = "pickles/protocol\(version).pkl"
            let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
            let value = try PickleValue(pickle: data, path: name)
            XCTAssertEqual(Self.canon(value), try Self.expected(name), name)
        }
        // Outside a torch zip there are no storages for a persistent id to name.
        XCTAssertThrowsError(try PickleValue(pickle: Data([0x80, 0x02, 0x4E, 0x51, 0x2E]), path: "plain.pkl")) { error in
            guard case .malformedPickle("plain.pkl", 3, _) = error as? TorchCheckpointError else { return XCTFail("\(error)") }
        }
    }

    func testDamagedStorageFailsItsChecksum() throws {
        var bytes = try Data(contentsOf: Self.folder.appendingPathComponent("dtypes.pth"))
        // Flip one bit of the first float32 element (storage data/0 holds [0.0, -0.0, ...]).
        let archive = try StoredZipArchive(file: try MappedFile(path: Self.folder.appendingPathComponent("dtypes.pth").path))
        let entry = try XCTUnwrap(archive.entries.first { $0.name == "dtypes/data/0" })
        bytes[entry.dataOffset] ^= 0x01
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-damaged-\(getpid()).pth")
        try bytes.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try TorchCheckpoint(contentsOf: url)) { error in
            guard case .checksumMismatch(_, "dtypes/data/0", _, _) = error as? TorchCheckpointError else {
                return XCTFail("\(error)")
            }
        }
        // Unchecked, the damaged element is read as it is.
        let unchecked = try TorchCheckpoint(contentsOf: url, verifyChecksums: false)
        let first = try XCTUnwrap(unchecked.value(at: "float32")?.tensor?.floats().first)
        XCTAssertEqual(first.bitPattern, 1)
    }

    /// A checkpoint past 4 GiB, as STU-Net-H's are: a sparse file whose first storage is 4 GiB
    /// and 64 bytes, so data.pkl's offset needs zip64. Opening it and reading the 16 floats at
    /// the storage's end must touch only those pages.
    func testEntryPastFourGiBIsMappedNotRead() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-zip64-\(getpid()).pth")
        defer { try? FileManager.default.removeItem(at: url) }
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: url) else { throw XCTSkip("cannot write \(url.path)") }
        let storageBytes: UInt64 = (4 << 30) + 64
        let numel = storageBytes / 4
        let tail = CraftedTorchCheckpoint.floats((0..<16).map { Float($0) + 0.5 })
        // A tensor of the last 16 elements: offset numel - 16, size (16,), stride (1,).
        var pickle = CraftedTorchCheckpoint.proto2 + [0x7D] + CraftedTorchCheckpoint.unicode("tail")
        pickle += CraftedTorchCheckpoint.global("torch._utils", "_rebuild_tensor_v2") + [0x28, 0x28]
            + CraftedTorchCheckpoint.unicode("storage") + CraftedTorchCheckpoint.global("torch", "FloatStorage")
            + CraftedTorchCheckpoint.unicode("0") + CraftedTorchCheckpoint.unicode("cpu")
            + [0x8A, 0x08] + CraftedTorchCheckpoint.le(numel) + [0x74, 0x51]
            + [0x8A, 0x08] + CraftedTorchCheckpoint.le(numel - 16) + [0x4B, 16, 0x85, 0x4B, 1, 0x85, 0x89]
            + CraftedTorchCheckpoint.global("collections", "OrderedDict") + [0x29, 0x52, 0x74, 0x52, 0x73, 0x2E]
        let storageHeader = CraftedTorchCheckpoint.localHeader(name: "big/data/0", size: storageBytes, crc: 0)
        try handle.write(contentsOf: Data(storageHeader))
        try handle.seek(toOffset: UInt64(storageHeader.count) + storageBytes - 64)
        try handle.write(contentsOf: Data([UInt8](repeating: 0, count: 64 - tail.count) + tail))
        let pickleOffset = try handle.offset()
        let pickleHeader = CraftedTorchCheckpoint.localHeader(name: "big/data.pkl", size: UInt64(pickle.count), crc: 0)
        try handle.write(contentsOf: Data(pickleHeader + pickle))
        let central = CraftedTorchCheckpoint.centralHeader(name: "big/data/0", size: storageBytes, crc: 0, offset: 0)
            + CraftedTorchCheckpoint.centralHeader(name: "big/data.pkl", size: UInt64(pickle.count), crc: 0, offset: pickleOffset)
        try handle.write(contentsOf: Data(CraftedTorchCheckpoint.directoryEnd(central: central, at: try handle.offset(), entries: 2)))
        try handle.close()
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        XCTAssertGreaterThan(try XCTUnwrap(attributes[.size] as? Int), 1 << 32)
        var info = stat()
        guard stat(url.path, &info) == 0, Int(info.st_blocks) * 512 < 1 << 30 else {
            throw XCTSkip("the temporary folder's file system stores no sparse files")
        }

        let before = ResourceUsage.residentBytes
        // No checksums: they would read all 4 GiB (which is the point of turning them off here).
        let checkpoint = try TorchCheckpoint(contentsOf: url, verifyChecksums: false)
        let tensor = try XCTUnwrap(checkpoint.value(at: "tail")?.tensor)
        XCTAssertEqual(tensor.storageOffset, Int(numel) - 16)
        XCTAssertEqual(tensor.floats(), (0..<16).map { Float($0) + 0.5 })
        let grown = ResourceUsage.residentBytes - before
        XCTAssertLessThan(grown, 64 << 20, "opening a 4 GiB checkpoint made \(grown) bytes resident")
    }
}
