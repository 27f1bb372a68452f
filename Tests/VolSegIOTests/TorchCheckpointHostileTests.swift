import Foundation
@testable import VolSegIO
import VolSegTestSupport
import XCTest

/// Hostile and damaged checkpoints: each gets the named error, with the file in its message,
/// and none runs anything, crashes, or allocates what the file asks for. The files under
/// Tests/References/torch/hostile were written by make_checkpoints.py (pickles by hand, never
/// unpickled there); the rest are built here byte by byte.
final class TorchCheckpointHostileTests: XCTestCase {
    static let folder = TorchCheckpointTests.folder.appendingPathComponent("hostile")
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-torch-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func error(_ url: URL, limits: PickleLimits = .standard, file: StaticString = #filePath,
               line: UInt = #line) -> TorchCheckpointError? {
        do {
            let checkpoint = try TorchCheckpoint(contentsOf: url, verifyChecksums: true, limits: limits)
            XCTFail("\(url.lastPathComponent) was read: \(checkpoint.root)", file: file, line: line)
        } catch let error as TorchCheckpointError {
            XCTAssertTrue(error.description.contains(url.path), "message does not name the file: \(error)", file: file, line: line)
            return error
        } catch {
            XCTFail("untyped error \(error)", file: file, line: line)
        }
        return nil
    }

    func hostile(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> TorchCheckpointError? {
        error(Self.folder.appendingPathComponent(name), file: file, line: line)
    }

    /// A checkpoint whose data.pkl is `pickle`, written to the scratch folder.
    func crafted(_ pickle: [UInt8], storages: [(key: String, bytes: [UInt8])] = [], byteOrder: String = "little",
                 name: String = "crafted.pth") throws -> URL {
        let url = scratch.appendingPathComponent(name)
        try Data(CraftedTorchCheckpoint.checkpoint(pickle: pickle, storages: storages, byteOrder: byteOrder)).write(to: url)
        return url
    }

    func assertForbidden(_ error: TorchCheckpointError?, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        guard case .forbiddenCallable(_, let found) = error else { return XCTFail("\(String(describing: error))", file: file, line: line) }
        XCTAssertEqual(found, name, file: file, line: line)
        XCTAssertTrue(error!.description.contains("forbidden callable \(name)"), error!.description, file: file, line: line)
    }

    func testReduceOfOSSystemIsAForbiddenCallable() {
        assertForbidden(hostile("reduce_os_system.pth"), "os.system")
    }

    func testCallHiddenInsideAStateDictIsForbidden() {
        assertForbidden(hostile("reduce_builtins_eval.pth"), "builtins.eval")
    }

    func testInstAndObjCallsAreForbidden() {
        assertForbidden(hostile("inst_subprocess.pth"), "subprocess.Popen")
        assertForbidden(hostile("obj_subprocess.pth"), "subprocess.Popen")
    }

    func testPickledInstanceOfAnUnknownClassIsForbidden() {
        assertForbidden(hostile("newobj_custom_class.pth"), "__main__.Sneaky")
    }

    func testGlobalsThatAreNotCalledArePlaceholders() throws {
        let checkpoint = try TorchCheckpoint(contentsOf: Self.folder.appendingPathComponent("unknown_globals.pth"))
        XCTAssertEqual(checkpoint.value(at: "counter_class"), .global(module: "collections", name: "Counter"))
        XCTAssertEqual(checkpoint.value(at: "system"), .global(module: "posix", name: "system"))
        XCTAssertEqual(checkpoint.value(at: "x"), .int(1))
    }

    func testStateOrItemsGivenToAGlobalAreForbidden() throws {
        let p = CraftedTorchCheckpoint.self
        // BUILD on a class would set its attributes; APPEND/SETITEM would call its methods.
        assertForbidden(error(try crafted(p.proto2 + p.global("os", "system") + [0x7D, 0x62, 0x2E])), "os.system.__setstate__")
        assertForbidden(error(try crafted(p.proto2 + p.global("os", "system") + [0x4E, 0x61, 0x2E])), "os.system.append")
        assertForbidden(error(try crafted(p.proto2 + p.global("os", "environ") + [0x4E, 0x4E, 0x73, 0x2E])),
                        "os.environ.__setitem__")
        // STACK_GLOBAL (protocol 4) names the callable from two strings.
        assertForbidden(error(try crafted([0x80, 0x04] + [0x8C, 2] + Array("os".utf8) + [0x8C, 6] + Array("system".utf8)
                                          + [0x93, 0x8C, 2] + Array("id".utf8) + [0x85, 0x52, 0x2E])), "os.system")
        // A rebuilder handed a forbidden callable to apply.
        let fromType = p.global("torch._tensor", "_rebuild_from_type_v2") + [0x28] + p.global("os", "system")
            + p.global("torch", "Tensor") + [0x29, 0x4E, 0x74, 0x52, 0x2E]
        guard case .malformedPickle = error(try crafted(p.proto2 + fromType)) else { return XCTFail() }
    }

    func testUnknownOpcodeIsNamed() {
        guard case .unknownOpcode(_, 0xFF, 5) = hostile("unknown_opcode.pth") else { return XCTFail() }
    }

    func testTensorPastItsStorageIsRefused() {
        guard case .storageOutOfRange(_, "0", let reason) = hostile("storage_out_of_range.pth") else { return XCTFail() }
        XCTAssertTrue(reason.contains("the storage holds 4"), reason)
    }

    func testMissingStorageEntryIsNamed() {
        guard case .missingEntry(_, "archive/data/0") = hostile("missing_storage.pth") else { return XCTFail() }
    }

    func testBadViewsAndStoragesAreRefused() throws {
        let p = CraftedTorchCheckpoint.self
        let storage = [(key: "0", bytes: p.floats([1, 2, 3, 4]))]
        func view(numel: UInt8 = 4, offset: UInt8 = 0, size: [UInt8], stride: [UInt8], type: String = "FloatStorage") throws -> TorchCheckpointError? {
            error(try crafted(p.proto2 + p.tensor(storageType: type, key: "0", numel: numel, offset: offset, size: size, stride: stride) + [0x2E],
                              storages: storage))
        }
        // Offset 3 with two elements reaches element 4 of 4.
        guard case .storageOutOfRange = try view(offset: 3, size: [2], stride: [1]) else { return XCTFail() }
        // A stride that walks off the end.
        guard case .storageOutOfRange = try view(size: [2, 2], stride: [3, 1]) else { return XCTFail() }
        // Size and stride of different lengths.
        guard case .storageOutOfRange = try view(size: [2, 2], stride: [1]) else { return XCTFail() }
        // A storage declaring more elements than its entry's 16 bytes hold.
        guard case .storageOutOfRange(_, "0", let reason) = try view(numel: 5, size: [1], stride: [1]) else { return XCTFail() }
        XCTAssertTrue(reason.contains("holds 16 bytes"), reason)
        // A storage type VolSeg does not read.
        guard case .unsupportedDType(_, "torch.ComplexFloatStorage") = try view(size: [1], stride: [1], type: "ComplexFloatStorage") else {
            return XCTFail()
        }
        // Stride 0 repeats an element past the bound on repeated values.
        let repeated = p.global("torch._utils", "_rebuild_tensor_v2") + [0x28, 0x28] + p.unicode("storage")
            + p.global("torch", "FloatStorage") + p.unicode("0") + p.unicode("cpu") + p.int(4) + [0x74, 0x51, 0x4B, 0]
            + [0x4A] + p.le(Int32(1 << 30)) + [0x85, 0x4B, 0, 0x85, 0x89, 0x4E, 0x74, 0x52, 0x2E]
        guard case .storageOutOfRange(_, _, let why) = error(try crafted(p.proto2 + repeated, storages: storage)) else {
            return XCTFail()
        }
        XCTAssertTrue(why.contains("repeats"), why)
    }

    func testCompressedEntryIsRefused() {
        guard case .compressedEntry(_, "archive/data.pkl", 8) = hostile("compressed.pth") else { return XCTFail() }
    }

    func testArchiveWithoutDataPklIsRefused() {
        guard case .missingEntry(_, "archive/data.pkl") = hostile("no_data_pkl.pth") else { return XCTFail() }
    }

    func testTruncatedArchiveIsRefused() throws {
        guard case .truncated = hostile("truncated.pth") else { return XCTFail() }
        // Every shorter prefix of a real checkpoint is refused by name, none crashes.
        let whole = try Data(contentsOf: TorchCheckpointTests.folder.appendingPathComponent("views.pth"))
        let url = scratch.appendingPathComponent("prefix.pth")
        for length in stride(from: 0, to: whole.count, by: 7) {
            try whole.prefix(length).write(to: url)
            XCTAssertNotNil(error(url), "\(length) bytes")
        }
    }

    func testNonZipBytesAreRefused() throws {
        guard case .notZip(_, let found) = hostile("not_a_zip.pth") else { return XCTFail() }
        XCTAssertTrue(found.contains("74 68 69 73"), found)
        let empty = scratch.appendingPathComponent("empty.pth")
        try Data().write(to: empty)
        guard case .notZip = error(empty) else { return XCTFail() }
        guard case .unreadable = error(scratch) else { return XCTFail() }
        guard case .missingFile = error(scratch.appendingPathComponent("absent.pth")) else { return XCTFail() }
    }

    func testLegacyFormatsAreRefusedByName() {
        guard case .legacyFormat(_, let layout) = hostile("legacy.pth") else { return XCTFail() }
        XCTAssertTrue(layout.contains("pickle stream"), layout)
        guard case .legacyFormat(_, let tar) = hostile("legacy_tar.pth") else { return XCTFail() }
        XCTAssertTrue(tar.contains("tar"), tar)
        XCTAssertTrue(hostile("legacy.pth")!.description.contains("_use_new_zipfile_serialization=False"))
    }

    func testBigEndianCheckpointIsRefused() throws {
        guard case .unsupportedByteOrder(_, "big") = error(try crafted(CraftedTorchCheckpoint.proto2 + [0x4E, 0x2E], byteOrder: "big")) else {
            return XCTFail()
        }
    }

    // MARK: bounds

    func testDeeplyNestedListsHitTheDepthLimitWithoutOverflowingTheStack() throws {
        // A million lists each inside the next: 2 MB of pickle. Freeing it link by link would
        // recurse a million deep.
        let depth = 1_000_000
        let chain = CraftedTorchCheckpoint.proto2 + [UInt8](repeating: 0x5D, count: depth)
            + [UInt8](repeating: 0x61, count: depth - 1) + [0x2E]
        guard case .limitExceeded(_, "nesting depth", 512) = error(try crafted(chain)) else { return XCTFail() }
        // Tuples nest the same way.
        let tuples = CraftedTorchCheckpoint.proto2 + [0x29] + [UInt8](repeating: 0x85, count: depth) + [0x2E]
        guard case .limitExceeded(_, "nesting depth", _) = error(try crafted(tuples)) else { return XCTFail() }
        // Below the limit it reads.
        let shallow = CraftedTorchCheckpoint.proto2 + [UInt8](repeating: 0x5D, count: 100)
            + [UInt8](repeating: 0x61, count: 99) + [0x2E]
        var value = try TorchCheckpoint(contentsOf: try crafted(shallow)).root
        var levels = 1
        while case .list(let items) = value, let inner = items.first { value = inner; levels += 1 }
        XCTAssertEqual(levels, 100)
    }

    func testSharedListsCannotMultiplyIntoAHugeValue() throws {
        // A list, then forty times (DUP, TUPLE2): 2^40 leaves as a tree from 83 bytes.
        var pickle = CraftedTorchCheckpoint.proto2 + [0x5D]
        for _ in 0..<40 { pickle += [0x32, 0x86] }
        guard case .limitExceeded(_, "values in the checkpoint", _) = error(try crafted(pickle + [0x2E])) else { return XCTFail() }
    }

    func testRecursiveListIsRefused() throws {
        // l = []; l.append(l)
        guard case .malformedPickle(_, _, let reason) = error(try crafted(CraftedTorchCheckpoint.proto2 + [0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E])) else {
            return XCTFail()
        }
        XCTAssertTrue(reason.contains("contains itself"), reason)
    }

    func testHugeLengthsAreRefusedBeforeAllocation() throws {
        let p = CraftedTorchCheckpoint.self
        // BINUNICODE8 and BINBYTES8 claiming 2^62 bytes.
        for opcode: UInt8 in [0x8D, 0x8E, 0x96] {
            guard case .malformedPickle(_, 2, let reason) = error(try crafted([0x80, 0x04, opcode] + p.le(UInt64(1) << 62) + [0x2E])) else {
                return XCTFail("opcode \(opcode)")
            }
            XCTAssertTrue(reason.contains("claims"), reason)
        }
        // A negative BINSTRING length, a LONG4 longer than the integer bound.
        guard case .malformedPickle = error(try crafted(p.proto2 + [0x54] + p.le(Int32(-5)) + [0x2E])) else { return XCTFail() }
        guard case .limitExceeded(_, "bytes of an integer", 1024) = error(try crafted(p.proto2 + [0x8B] + p.le(Int32(2000))
                                                                                        + [UInt8](repeating: 1, count: 2000) + [0x2E])) else {
            return XCTFail()
        }
        guard case .limitExceeded(_, "digits of an integer", _) = error(try crafted(Array(("L" + String(repeating: "9", count: 5000) + "L\n.").utf8))) else {
            return XCTFail()
        }
    }

    func testStackAndMemoAreBounded() throws {
        var limits = PickleLimits.standard
        limits.stack = 100
        limits.memo = 10
        let nones = CraftedTorchCheckpoint.proto2 + [UInt8](repeating: 0x4E, count: 200) + [0x2E]
        guard case .limitExceeded(_, "pickle stack depth", 100) = error(try crafted(nones), limits: limits) else { return XCTFail() }
        var puts = CraftedTorchCheckpoint.proto2 + [0x4E]
        for key in 0..<20 { puts += [0x71, UInt8(key)] }
        guard case .limitExceeded(_, "memo entries", 10) = error(try crafted(puts + [0x2E]), limits: limits) else { return XCTFail() }
        guard case .malformedPickle(_, _, let reason) = error(try crafted(CraftedTorchCheckpoint.proto2 + [0x68, 7, 0x2E])) else {
            return XCTFail()
        }
        XCTAssertTrue(reason.contains("memo entry 7"), reason)
    }

    func testMalformedProgramsAreNamedWithTheirOffset() throws {
        let p = CraftedTorchCheckpoint.self
        // STOP on an empty stack, no STOP at all, APPEND to an int, an unknown protocol.
        guard case .malformedPickle(_, 2, _) = error(try crafted(p.proto2 + [0x2E])) else { return XCTFail() }
        guard case .malformedPickle(_, 3, let noStop) = error(try crafted(p.proto2 + [0x4E])) else { return XCTFail() }
        XCTAssertTrue(noStop.contains("without STOP"), noStop)
        guard case .malformedPickle = error(try crafted(p.proto2 + [0x4B, 1, 0x4E, 0x61, 0x2E])) else { return XCTFail() }
        guard case .malformedPickle = error(try crafted([0x80, 0x09, 0x4E, 0x2E])) else { return XCTFail() }
        // A persistent id that is not torch's storage tuple.
        guard case .malformedPickle = error(try crafted(p.proto2 + p.unicode("x") + [0x51, 0x2E])) else { return XCTFail() }
    }
}
