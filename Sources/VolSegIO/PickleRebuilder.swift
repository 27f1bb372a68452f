import Foundation

/// The allow-list: the only callables a pickle may invoke (with REDUCE, NEWOBJ, NEWOBJ_EX, INST
/// or OBJ), each rebuilt here by VolSeg's own code from the arguments. Any other global is read
/// as an inert `.global(module, name)`, and calling it is `forbidden callable module.name`: a
/// pickle is a program, and a checkpoint from the internet must not get to run one.
///
/// These are what torch.save (protocol 2) writes for tensors, parameters, state dicts and the
/// numpy values nnU-Net keeps, plus the builtins Python's pickler uses for sets and bytes.
/// NEWOBJ (`cls.__new__(cls, *args)`) is treated as a call: for these types, as Python pickles
/// them, the two build the same value.
enum PickleRebuilder: String, CaseIterable {
    case orderedDict = "collections.OrderedDict"
    case set = "builtins.set"
    case frozenSet = "builtins.frozenset"
    case bytes = "builtins.bytes"
    case byteArray = "builtins.bytearray"
    /// Protocol 2 has no bytes opcode: Python writes bytes as `_codecs.encode(latin1_text, "latin1")`.
    case codecsEncode = "_codecs.encode"
    case rebuildTensorV2 = "torch._utils._rebuild_tensor_v2"
    case rebuildTensor = "torch._utils._rebuild_tensor"
    case rebuildParameter = "torch._utils._rebuild_parameter"
    case rebuildParameterWithState = "torch._utils._rebuild_parameter_with_state"
    /// Tensors of a subclass or with Python attributes: `(func, type, args, state)`; `func` must
    /// itself be on this list, the type and state are dropped.
    case rebuildFromType = "torch._tensor._rebuild_from_type_v2"
    case torchSize = "torch.Size"
    case torchDevice = "torch.device"
    case numpyScalar = "numpy.core.multiarray.scalar"
    case numpyDType = "numpy.dtype"
    case numpyReconstruct = "numpy.core.multiarray._reconstruct"
    /// What numpy writes for an array under protocol 5.
    case numpyFromBuffer = "numpy.core.numeric._frombuffer"

    /// Python 2's `__builtin__` (what protocol 2 writes for builtins) and numpy 2's `numpy._core`
    /// name the same callables.
    init?(module: String, name: String) {
        let canonical: String
        switch module {
        case "__builtin__": canonical = "builtins"
        case "numpy._core.multiarray": canonical = "numpy.core.multiarray"
        case "numpy._core.numeric": canonical = "numpy.core.numeric"
        default: canonical = module
        }
        self.init(rawValue: canonical + "." + name)
    }

    /// Calls `callable` (a global name) with `arguments`; `opcode` names the caller for messages.
    static func call(_ callable: PickleItem, _ arguments: [PickleItem], heap: PickleHeap,
                     opcode: String) throws -> PickleItem {
        guard case .value(.global(let module, let name)) = callable else {
            throw PickleFault.malformed("\(opcode) calls \(callable.kindName), which is not a callable")
        }
        guard let rebuilder = PickleRebuilder(module: module, name: name) else {
            throw PickleFault.forbidden("\(module).\(name)")
        }
        return try rebuilder.call(arguments, heap: heap)
    }

    private func refuse(_ arguments: [PickleItem]) -> PickleFault {
        .malformed("\(rawValue) called with (\(arguments.map(\.kindName).joined(separator: ", ")))")
    }

    func call(_ arguments: [PickleItem], heap: PickleHeap) throws -> PickleItem {
        switch self {
        case .orderedDict:
            let dict = try heap.make(.dict)
            if let pairs = arguments.first?.sequence, arguments.count == 1 {
                for pair in pairs {
                    guard let keyValue = pair.sequence, keyValue.count == 2 else { throw refuse(arguments) }
                    try heap.add(keyValue, to: dict)
                }
            } else if !arguments.isEmpty {
                throw refuse(arguments)
            }
            return .object(dict)
        case .set, .frozenSet:
            var items: [PickleItem] = []
            if let only = arguments.first, arguments.count == 1 {
                guard case .object(let source) = only, source.kind != .dict, source.kind != .numpyDType,
                      source.kind != .numpyArray else { throw refuse(arguments) }
                items = source.items
            } else if !arguments.isEmpty {
                throw refuse(arguments)
            }
            return .object(try heap.make(self == .set ? .set : .frozenSet, items))
        case .bytes, .byteArray, .codecsEncode:
            guard let bytes = try Self.bytes(arguments, encoding: self == .codecsEncode ? "utf-8" : nil) else {
                throw refuse(arguments)
            }
            return .value(.bytes(bytes))
        case .rebuildTensorV2, .rebuildTensor:
            // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
            let counts = self == .rebuildTensor ? 4...4 : 6...7
            guard counts.contains(arguments.count), case .storage(let storage) = arguments[0],
                  let offset = arguments[1].int, let size = Self.ints(arguments[2]), let stride = Self.ints(arguments[3]) else {
                throw refuse(arguments)
            }
            return .value(.tensor(try TorchTensor(storage: storage, shape: size, strides: stride, storageOffset: Int(offset))))
        case .rebuildParameter, .rebuildParameterWithState:
            // (data, requires_grad, backward_hooks[, state]): a parameter is its tensor here.
            guard arguments.count == (self == .rebuildParameter ? 3 : 4), let tensor = arguments[0].tensor else {
                throw refuse(arguments)
            }
            return .value(.tensor(tensor))
        case .rebuildFromType:
            guard arguments.count == 4, case .value(.global(let module, let name)) = arguments[0],
                  let inner = PickleRebuilder(module: module, name: name), inner != .rebuildFromType,
                  let innerArguments = arguments[2].sequence else {
                throw refuse(arguments)
            }
            return try inner.call(innerArguments, heap: heap)
        case .torchSize:
            guard arguments.count == 1, let sizes = arguments[0].sequence, sizes.allSatisfy({ $0.int != nil }) else {
                throw refuse(arguments)
            }
            return .object(try heap.make(.tuple, sizes))
        case .torchDevice:
            guard let type = arguments.first?.string, arguments.count <= 2 else { throw refuse(arguments) }
            if arguments.count == 2, let index = arguments[1].int { return .value(.device("\(type):\(index)")) }
            guard arguments.count == 1 || arguments[1].isNone else { throw refuse(arguments) }
            return .value(.device(type))
        case .numpyDType:
            // numpy.dtype(code, align, copy); BUILD then sets the byte order.
            guard (1...3).contains(arguments.count), let code = arguments[0].string else { throw refuse(arguments) }
            let dtype = try heap.make(.numpyDType)
            if let order = code.first, "<>|=".contains(order) {
                dtype.byteOrder = String(order)
                dtype.numpyCode = String(code.dropFirst())
            } else {
                dtype.numpyCode = code
            }
            return .object(dtype)
        case .numpyScalar:
            guard arguments.count == 2, case .object(let dtype) = arguments[0], dtype.kind == .numpyDType,
                  let data = arguments[1].bytes else {
                throw refuse(arguments)
            }
            return .value(try NumpyPickle.scalar(code: dtype.numpyCode, byteOrder: dtype.byteOrder, data: data))
        case .numpyReconstruct:
            // _reconstruct(numpy.ndarray, (0,), b'b'): an empty array that BUILD fills.
            guard arguments.count == 3, case .value(.global(let module, let name)) = arguments[0] else {
                throw refuse(arguments)
            }
            guard name == "ndarray", module == "numpy" else {
                // Any other class would have its __new__ run by numpy.
                throw PickleFault.forbidden("\(module).\(name)")
            }
            return .object(try heap.make(.numpyArray))
        case .numpyFromBuffer:
            // _frombuffer(buffer, dtype, shape, order)
            guard arguments.count == 4, let data = arguments[0].bytes, case .object(let dtype) = arguments[1],
                  dtype.kind == .numpyDType, let shape = Self.ints(arguments[2]), let order = arguments[3].string else {
                throw refuse(arguments)
            }
            return .value(.tensor(try NumpyPickle.array(code: dtype.numpyCode, byteOrder: dtype.byteOrder, shape: shape,
                                                        fortranOrder: order == "F", data: data)))
        }
    }

    /// BUILD (`__setstate__`, or an update of `__dict__`) on `target` with `state`.
    static func build(_ target: PickleItem, state: PickleItem) throws {
        switch target {
        case .object(let object) where object.kind == .dict:
            // An OrderedDict's own attributes, such as a state dict's `_metadata` (module
            // versions): not entries, and nothing VolSeg reads.
            return
        case .object(let object) where object.kind == .numpyDType:
            // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
            if let order = state.sequence?.dropFirst().first?.string { object.byteOrder = order }
        case .object(let object) where object.kind == .numpyArray:
            // (version, shape, dtype, is_fortran, data), or the same without the version.
            guard var fields = state.sequence, fields.count == 5 || fields.count == 4 else {
                throw PickleFault.malformed("a numpy array's state is \(state.kindName), not numpy's 5-tuple")
            }
            if fields.count == 5 { fields.removeFirst() }
            guard let shape = ints(fields[0]), case .object(let dtype) = fields[1], dtype.kind == .numpyDType,
                  case .value(let fortran) = fields[2], let fortranOrder = fortran.bool else {
                throw PickleFault.malformed("a numpy array's state is not (shape, dtype, is_fortran, data)")
            }
            guard let data = fields[3].bytes else {
                // Object arrays pickle a list of their Python objects.
                throw PickleFault.unsupportedDType("numpy \(dtype.numpyCode) array of Python objects")
            }
            object.array = try NumpyPickle.array(code: dtype.numpyCode, byteOrder: dtype.byteOrder, shape: shape,
                                                 fortranOrder: fortranOrder, data: data)
        case .value(.global(let module, let name)):
            throw PickleFault.forbidden("\(module).\(name).__setstate__")
        default:
            throw PickleFault.malformed("BUILD on \(target.kindName), which takes no state")
        }
    }

    /// The ints of a tuple or list, as sizes and strides.
    private static func ints(_ item: PickleItem) -> [Int]? {
        guard let items = item.sequence else { return nil }
        var out: [Int] = []
        for item in items {
            guard let value = item.int else { return nil }
            out.append(Int(value))
        }
        return out
    }

    /// bytes(), bytes(b), bytes([ints]), bytes(text, encoding), and _codecs.encode(text, encoding),
    /// for the encodings Python's pickler uses (latin-1) and UTF-8.
    private static func bytes(_ arguments: [PickleItem], encoding defaultEncoding: String?) throws -> [UInt8]? {
        if arguments.isEmpty { return defaultEncoding == nil ? [] : nil }
        if arguments.count == 1, defaultEncoding == nil {
            if let bytes = arguments[0].bytes { return bytes }
            if let ints = arguments[0].sequence {
                return try ints.map {
                    guard let value = $0.int, (0...255).contains(value) else { throw PickleFault.malformed("bytes() of a non-byte") }
                    return UInt8(value)
                }
            }
        }
        guard let text = arguments[0].string, arguments.count <= 3 else { return nil }
        let encoding = arguments.count >= 2 ? arguments[1].string?.lowercased() : defaultEncoding
        switch encoding {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1":
            return try text.unicodeScalars.map {
                guard $0.value <= 0xFF else { throw PickleFault.malformed("a latin-1 text holds U+\(String($0.value, radix: 16))") }
                return UInt8($0.value)
            }
        case "utf-8", "utf8":
            return Array(text.utf8)
        default:
            return nil
        }
    }
}

private extension PickleItem {
    var isNone: Bool {
        if case .value(.none) = self { return true }
        return false
    }
}
