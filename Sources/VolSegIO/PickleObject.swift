import Foundation

/// A value on the unpickler's stack or in its memo. Containers are objects shared by reference,
/// as in Python: a pickle memoizes an empty dict, fills it with SETITEMS and refers to it again
/// with GET, and every reference must see the filled dict.
enum PickleItem {
    /// A leaf: none, numbers, strings, bytes, tensors, devices, global names.
    case value(PickleValue)
    case object(PickleObject)
    /// A storage from a persistent id, before `_rebuild_tensor_v2` wraps it in a view.
    case storage(TorchStorage)

    /// What the item is, in Python's words, for messages.
    var kindName: String {
        switch self {
        case .value(let value):
            switch value {
            case .none: return "None"
            case .bool: return "a bool"
            case .int, .bigInt: return "an int"
            case .float: return "a float"
            case .string: return "a str"
            case .bytes: return "bytes"
            case .tensor: return "a tensor"
            case .device: return "a torch.device"
            case .global(let module, let name): return "the global \(module).\(name)"
            case .list: return "a list"
            case .tuple: return "a tuple"
            case .set: return "a set"
            case .dict: return "a dict"
            case .numpyDType: return "a numpy dtype"
            }
        case .object(let object): return object.kind.name
        case .storage: return "a storage"
        }
    }

    var int: Int64? {
        if case .value(let value) = self { return value.int }
        return nil
    }

    var string: String? {
        if case .value(.string(let text)) = self { return text }
        return nil
    }

    var bytes: [UInt8]? {
        if case .value(.bytes(let bytes)) = self { return bytes }
        return nil
    }

    /// The items of a tuple or list.
    var sequence: [PickleItem]? {
        if case .object(let object) = self, object.kind == .tuple || object.kind == .list { return object.items }
        return nil
    }

    var tensor: TorchTensor? {
        if case .value(.tensor(let tensor)) = self { return tensor }
        return nil
    }
}

/// A mutable Python object under construction: a container, or a numpy dtype or array waiting
/// for its BUILD. Made only through PickleHeap, which bounds how many there are and frees them.
final class PickleObject {
    enum Kind: Equatable {
        case list, tuple, dict, set, frozenSet, numpyDType, numpyArray

        var name: String {
            switch self {
            case .list: return "a list"
            case .tuple: return "a tuple"
            case .dict: return "a dict"
            case .set: return "a set"
            case .frozenSet: return "a frozenset"
            case .numpyDType: return "a numpy dtype"
            case .numpyArray: return "a numpy array"
            }
        }
    }

    let kind: Kind
    /// A dict's keys and values alternate.
    var items: [PickleItem]
    /// A numpy dtype's type code ("f8") and byte order ("<", ">", "|" or "=").
    var numpyCode = ""
    var byteOrder = "="
    /// A numpy array once BUILD gave it its data.
    var array: TorchTensor?
    /// Conversion to a PickleValue, done once per object so shared objects stay shared.
    var converted: PickleValue?
    var convertedSize = 0
    var converting = false

    init(kind: Kind, items: [PickleItem]) {
        self.kind = kind
        self.items = items
    }
}
