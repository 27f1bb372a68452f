import Foundation

/// A restricted unpickler: runs a pickle's opcodes (protocols 0 to 5) on a stack machine of its
/// own and returns the value, calling nothing but PickleRebuilder's allow-list. Globals become
/// inert names; persistent ids (torch's storages) go to `persistentLoad`. Every size the file
/// controls is checked against PickleLimits before it is allocated.
struct Unpickler {
    typealias PersistentLoad = (PickleItem) throws -> PickleItem

    private let bytes: UnsafeRawBufferPointer
    private let path: String
    private let limits: PickleLimits
    private let persistentLoad: PersistentLoad
    private let heap: PickleHeap
    private var position = 0
    private var stack: [PickleItem] = []
    /// Stack heights at each MARK.
    private var marks: [Int] = []
    private var memo: [Int: PickleItem] = [:]

    init(bytes: UnsafeRawBufferPointer, path: String, limits: PickleLimits = .standard,
         persistentLoad: @escaping PersistentLoad) {
        self.bytes = bytes
        self.path = path
        self.limits = limits
        self.persistentLoad = persistentLoad
        self.heap = PickleHeap(limits: limits)
    }

    /// Runs the pickle to its STOP (bytes after it are ignored, as Python ignores them).
    mutating func load() throws -> PickleValue {
        defer {
            heap.tearDown()
            stack = []
            memo = [:]
        }
        while true {
            let start = position
            guard position < bytes.count else {
                throw TorchCheckpointError.malformedPickle(path: path, offset: start, reason: "the pickle ends without STOP")
            }
            let code = bytes[position]
            position += 1
            guard let opcode = PickleOpcode(rawValue: code) else {
                throw TorchCheckpointError.unknownOpcode(path: path, opcode: code, offset: start)
            }
            do {
                if opcode == .stop {
                    return try heap.value(of: try pop()).value
                }
                try execute(opcode)
            } catch let fault as PickleFault {
                throw fault.error(path: path, offset: start)
            }
        }
    }

    // MARK: reading the pickle

    private mutating func read(_ count: Int, for opcode: PickleOpcode) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - position else {
            throw PickleFault.malformed("\(opcode) needs \(count) bytes, the pickle has \(bytes.count - position) left")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
    }

    private mutating func readInteger<T: FixedWidthInteger>(_: T.Type, for opcode: PickleOpcode) throws -> T {
        T(littleEndian: try read(MemoryLayout<T>.size, for: opcode).loadUnaligned(as: T.self))
    }

    /// A length that must fit in what is left of the pickle.
    private mutating func readLength<T: FixedWidthInteger>(_: T.Type, for opcode: PickleOpcode) throws -> Int {
        let length = try readInteger(T.self, for: opcode)
        guard length >= 0, UInt64(length) <= UInt64(bytes.count - position) else {
            throw PickleFault.malformed("\(opcode) claims \(length) bytes, the pickle has \(bytes.count - position) left")
        }
        return Int(length)
    }

    /// The text up to the next newline (text opcodes' arguments), without it.
    private mutating func readLine(for opcode: PickleOpcode) throws -> [UInt8] {
        let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
        guard let newline = rest.firstIndex(of: 0x0A) else {
            throw PickleFault.malformed("\(opcode)'s argument has no end of line")
        }
        defer { position += newline + 1 }
        return Array(rest[..<newline])
    }

    private mutating func readText(for opcode: PickleOpcode) throws -> String {
        var line = try readLine(for: opcode)
        if line.last == 0x0D { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }

    // MARK: the stack

    private mutating func push(_ item: PickleItem) throws {
        guard stack.count < limits.stack else { throw PickleFault.limit("pickle stack depth", limits.stack) }
        stack.append(item)
    }

    /// The top item above the innermost MARK.
    private mutating func pop() throws -> PickleItem {
        guard stack.count > (marks.last ?? 0) else { throw PickleFault.malformed("the stack is empty") }
        return stack.removeLast()
    }

    private func top() throws -> PickleItem {
        guard stack.count > (marks.last ?? 0), let item = stack.last else { throw PickleFault.malformed("the stack is empty") }
        return item
    }

    /// The items above the innermost MARK, which is removed with them.
    private mutating func popMark() throws -> [PickleItem] {
        guard let mark = marks.popLast() else { throw PickleFault.malformed("no MARK to pop to") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private mutating func pushObject(_ kind: PickleObject.Kind, _ items: [PickleItem] = []) throws {
        try push(.object(try heap.make(kind, items)))
    }

    private mutating func memoize(_ key: Int) throws {
        guard memo[key] != nil || memo.count < limits.memo else { throw PickleFault.limit("memo entries", limits.memo) }
        memo[key] = try top()
    }

    private mutating func recall(_ key: Int) throws {
        guard let item = memo[key] else { throw PickleFault.malformed("memo entry \(key) was never stored") }
        try push(item)
    }

    // MARK: opcodes

    private mutating func execute(_ opcode: PickleOpcode) throws {
        switch opcode {
        case .proto:
            let version = try readInteger(UInt8.self, for: opcode)
            guard version <= 5 else { throw PickleFault.malformed("pickle protocol \(version); Python writes 0 to 5") }
        case .frame:
            // Frames only tell a reader how much to buffer; the file is mapped already.
            _ = try readInteger(UInt64.self, for: opcode)
        case .stop:
            break
        case .mark:
            guard marks.count < limits.stack else { throw PickleFault.limit("pickle marks", limits.stack) }
            marks.append(stack.count)
        case .pop:
            // Python's POP with nothing above the mark discards the mark.
            if let mark = marks.last, mark == stack.count { marks.removeLast() } else { _ = try pop() }
        case .popMark:
            _ = try popMark()
        case .dup:
            try push(try top())

        case .none: try push(.value(.none))
        case .newTrue: try push(.value(.bool(true)))
        case .newFalse: try push(.value(.bool(false)))
        case .int:
            let text = try readText(for: opcode)
            // Protocol 0 writes True and False as INT 01 and 00.
            if text == "01" || text == "00" { try push(.value(.bool(text == "01"))); return }
            try push(.value(try PickleText.integer(text, limits: limits)))
        case .long:
            try push(.value(try PickleText.integer(try readText(for: opcode), limits: limits)))
        case .binInt: try push(.value(.int(Int64(try readInteger(Int32.self, for: opcode)))))
        case .binInt1: try push(.value(.int(Int64(try readInteger(UInt8.self, for: opcode)))))
        case .binInt2: try push(.value(.int(Int64(try readInteger(UInt16.self, for: opcode)))))
        case .long1, .long4:
            let length = opcode == .long1 ? Int(try readInteger(UInt8.self, for: opcode))
                                          : try readLength(Int32.self, for: opcode)
            guard length <= limits.integerBytes else { throw PickleFault.limit("bytes of an integer", limits.integerBytes) }
            try push(.value(PickleText.integer(littleEndian: try read(length, for: opcode))))
        case .float: try push(.value(.float(try PickleText.float(try readText(for: opcode)))))
        case .binFloat:
            // The one big-endian field of the format.
            try push(.value(.float(Double(bitPattern: UInt64(bigEndian: try read(8, for: opcode).loadUnaligned(as: UInt64.self))))))

        case .string:
            var line = try readLine(for: opcode)
            if line.last == 0x0D { line.removeLast() }
            try push(Self.pythonTwoString(try PickleText.quotedString(line)))
        case .binString:
            try push(Self.pythonTwoString(Array(try read(try readLength(Int32.self, for: opcode), for: opcode))))
        case .shortBinString:
            try push(Self.pythonTwoString(Array(try read(Int(try readInteger(UInt8.self, for: opcode)), for: opcode))))
        case .unicode:
            try push(.value(.string(try PickleText.rawUnicodeEscape(try readLine(for: opcode)))))
        case .binUnicode, .shortBinUnicode, .binUnicode8:
            let length: Int
            switch opcode {
            case .shortBinUnicode: length = Int(try readInteger(UInt8.self, for: opcode))
            case .binUnicode: length = try readLength(UInt32.self, for: opcode)
            default: length = try readLength(UInt64.self, for: opcode)
            }
            // Python writes lone surrogates with "surrogatepass"; Swift's String holds none, so
            // invalid UTF-8 becomes U+FFFD.
            try push(.value(.string(String(decoding: try read(length, for: opcode), as: UTF8.self))))
        case .binBytes, .shortBinBytes, .binBytes8, .byteArray8:
            let length: Int
            switch opcode {
            case .shortBinBytes: length = Int(try readInteger(UInt8.self, for: opcode))
            case .binBytes: length = try readLength(UInt32.self, for: opcode)
            default: length = try readLength(UInt64.self, for: opcode)
            }
            try push(.value(.bytes(Array(try read(length, for: opcode)))))
        case .nextBuffer:
            throw PickleFault.malformed("NEXT_BUFFER asks for an out-of-band buffer, which a file cannot carry")
        case .readOnlyBuffer:
            _ = try top()

        case .emptyTuple: try pushObject(.tuple)
        case .tuple1, .tuple2, .tuple3:
            let count = opcode == .tuple1 ? 1 : opcode == .tuple2 ? 2 : 3
            var items: [PickleItem] = []
            for _ in 0..<count { items.append(try pop()) }
            try pushObject(.tuple, items.reversed())
        case .tuple: try pushObject(.tuple, try popMark())
        case .emptyList: try pushObject(.list)
        case .list: try pushObject(.list, try popMark())
        case .emptyDict: try pushObject(.dict)
        case .dict:
            let items = try popMark()
            guard items.count % 2 == 0 else { throw PickleFault.malformed("DICT of an odd number of items") }
            try pushObject(.dict, items)
        case .emptySet: try pushObject(.set)
        case .frozenSet: try pushObject(.frozenSet, try popMark())
        case .append:
            let item = try pop()
            try add([item], to: try top(), kind: .list, method: "append")
        case .appends:
            let items = try popMark()
            try add(items, to: try top(), kind: .list, method: "extend")
        case .setItem:
            let value = try pop(), key = try pop()
            try add([key, value], to: try top(), kind: .dict, method: "__setitem__")
        case .setItems:
            let items = try popMark()
            guard items.count % 2 == 0 else { throw PickleFault.malformed("SETITEMS of an odd number of items") }
            try add(items, to: try top(), kind: .dict, method: "__setitem__")
        case .addItems:
            let items = try popMark()
            try add(items, to: try top(), kind: .set, method: "add")

        case .get: try recall(try Self.memoKey(try readText(for: opcode)))
        case .binGet: try recall(Int(try readInteger(UInt8.self, for: opcode)))
        case .longBinGet: try recall(Int(try readInteger(UInt32.self, for: opcode)))
        case .put: try memoize(try Self.memoKey(try readText(for: opcode)))
        case .binPut: try memoize(Int(try readInteger(UInt8.self, for: opcode)))
        case .longBinPut: try memoize(Int(try readInteger(UInt32.self, for: opcode)))
        case .memoize: try memoize(memo.count)

        case .global:
            let module = try readText(for: opcode), name = try readText(for: opcode)
            try push(.value(.global(module: module, name: name)))
        case .stackGlobal:
            let name = try pop(), module = try pop()
            guard let moduleName = module.string, let globalName = name.string else {
                throw PickleFault.malformed("STACK_GLOBAL of \(module.kindName) and \(name.kindName), not two strs")
            }
            try push(.value(.global(module: moduleName, name: globalName)))
        case .reduce:
            let arguments = try pop(), callable = try pop()
            guard let items = Self.tupleItems(arguments) else {
                throw PickleFault.malformed("REDUCE's arguments are \(arguments.kindName), not a tuple")
            }
            try push(try PickleRebuilder.call(callable, items, heap: heap, opcode: "REDUCE"))
        case .newObj:
            let arguments = try pop(), type = try pop()
            guard let items = Self.tupleItems(arguments) else {
                throw PickleFault.malformed("NEWOBJ's arguments are \(arguments.kindName), not a tuple")
            }
            try push(try PickleRebuilder.call(type, items, heap: heap, opcode: "NEWOBJ"))
        case .newObjEx:
            let keywords = try pop(), arguments = try pop(), type = try pop()
            guard let items = Self.tupleItems(arguments), case .object(let dict) = keywords, dict.kind == .dict else {
                throw PickleFault.malformed("NEWOBJ_EX's arguments are not a tuple and a dict")
            }
            guard dict.items.isEmpty else {
                // None of the rebuilders takes keywords: name what was asked for.
                if case .value(.global(let module, let name)) = type, PickleRebuilder(module: module, name: name) == nil {
                    throw PickleFault.forbidden("\(module).\(name)")
                }
                throw PickleFault.malformed("NEWOBJ_EX passes keyword arguments")
            }
            try push(try PickleRebuilder.call(type, items, heap: heap, opcode: "NEWOBJ_EX"))
        case .inst:
            let module = try readText(for: opcode), name = try readText(for: opcode)
            let arguments = try popMark()
            try push(try PickleRebuilder.call(.value(.global(module: module, name: name)), arguments, heap: heap, opcode: "INST"))
        case .obj:
            let items = try popMark()
            guard let type = items.first else { throw PickleFault.malformed("OBJ with nothing to call") }
            try push(try PickleRebuilder.call(type, Array(items.dropFirst()), heap: heap, opcode: "OBJ"))
        case .build:
            let state = try pop()
            try PickleRebuilder.build(try top(), state: state)

        case .persID:
            try push(try persistentLoad(.value(.string(try readText(for: opcode)))))
        case .binPersID:
            try push(try persistentLoad(try pop()))
        case .ext1, .ext2, .ext4:
            throw PickleFault.malformed("\(opcode) refers to Python's copyreg extension registry, which checkpoints never use")
        }
    }

    /// APPEND(S), SETITEM(S), ADDITEMS: into a container of `kind`. On anything else Python
    /// would call the target's `method`, which for a global is calling into that class.
    private func add(_ items: [PickleItem], to target: PickleItem, kind: PickleObject.Kind, method: String) throws {
        switch target {
        case .object(let object) where object.kind == kind:
            try heap.add(items, to: object)
        case .value(.global(let module, let name)):
            throw PickleFault.forbidden("\(module).\(name).\(method)")
        default:
            throw PickleFault.malformed("\(method) on \(target.kindName)")
        }
    }

    private static func tupleItems(_ item: PickleItem) -> [PickleItem]? {
        if case .object(let object) = item, object.kind == .tuple { return object.items }
        return nil
    }

    private static func memoKey(_ text: String) throws -> Int {
        guard let key = Int(text), key >= 0 else { throw PickleFault.malformed("memo key \"\(text.prefix(40))\"") }
        return key
    }

    /// A Python 2 `str` (STRING, BINSTRING): torch.load decodes these as UTF-8; bytes that are no
    /// UTF-8 stay bytes.
    private static func pythonTwoString(_ bytes: [UInt8]) -> PickleItem {
        if let text = String(bytes: bytes, encoding: .utf8) { return .value(.string(text)) }
        return .value(.bytes(bytes))
    }
}

extension PickleValue {
    /// A plain pickle (no torch zip around it), such as nnU-Net v1's `.model.pkl` or a
    /// `plans.pkl`, read with the same restrictions. Persistent ids, which only torch's files
    /// resolve, are refused; `path` names the source in errors.
    public init(pickle data: Data, path: String) throws {
        self = try data.withUnsafeBytes { bytes in
            var unpickler = Unpickler(bytes: bytes, path: path) { _ in
                throw PickleFault.malformed("a persistent id outside a torch checkpoint")
            }
            return try unpickler.load()
        }
    }
}
