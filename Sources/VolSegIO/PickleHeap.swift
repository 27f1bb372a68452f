import Foundation

/// Every object one unpickling makes: it counts them against the limits, turns the object graph
/// into a PickleValue, and frees it without recursion.
///
/// A pickle of a million nested empty lists is two megabytes; freeing such a chain object by
/// object would recurse a million deep and overflow the stack. So the heap keeps every object
/// alive until `tearDown`, which empties each one first: no release then reaches past a single
/// object. Conversion is bounded in depth (`PickleLimits.depth`) and refuses cycles.
final class PickleHeap {
    let limits: PickleLimits
    private var objects: [PickleObject] = []
    private var itemCount = 0

    init(limits: PickleLimits) { self.limits = limits }

    func make(_ kind: PickleObject.Kind, _ items: [PickleItem] = []) throws -> PickleObject {
        guard objects.count < limits.objects else { throw PickleFault.limit("objects in the pickle", limits.objects) }
        try count(items.count)
        let object = PickleObject(kind: kind, items: items)
        objects.append(object)
        return object
    }

    func add(_ items: [PickleItem], to object: PickleObject) throws {
        try count(items.count)
        object.items.append(contentsOf: items)
    }

    private func count(_ added: Int) throws {
        itemCount += added
        guard itemCount <= limits.items else { throw PickleFault.limit("items held by containers", limits.items) }
    }

    func tearDown() {
        for object in objects {
            object.items = []
            object.converted = nil
        }
        objects = []
    }

    // MARK: conversion

    /// The item as a PickleValue, and its size counted as a tree.
    func value(of item: PickleItem, depth: Int = 0) throws -> (value: PickleValue, size: Int) {
        switch item {
        case .value(let value):
            return (value, 1)
        case .storage(let storage):
            // A storage pickled on its own reads as a flat tensor of its elements.
            let tensor = try TorchTensor(storage: storage, shape: [storage.elementCount], strides: [1], storageOffset: 0)
            return (.tensor(tensor), 1)
        case .object(let object):
            if let converted = object.converted { return (converted, object.convertedSize) }
            guard !object.converting else {
                throw PickleFault.malformed("\(object.kind.name) contains itself; VolSeg reads no recursive values")
            }
            guard depth < limits.depth else { throw PickleFault.limit("nesting depth", limits.depth) }
            object.converting = true
            defer { object.converting = false }
            var size = 1
            func child(_ item: PickleItem) throws -> PickleValue {
                let (value, childSize) = try self.value(of: item, depth: depth + 1)
                size += childSize
                guard size <= limits.values else { throw PickleFault.limit("values in the checkpoint", limits.values) }
                return value
            }
            let value: PickleValue
            switch object.kind {
            case .list: value = .list(try object.items.map(child))
            case .tuple: value = .tuple(try object.items.map(child))
            case .set, .frozenSet: value = .set(Self.unique(try object.items.map(child)))
            case .dict:
                var entries: [(key: PickleValue, value: PickleValue)] = []
                var positions: [PickleValue: Int] = [:]
                var index = 0
                while index + 1 < object.items.count {
                    let key = try child(object.items[index]), entry = try child(object.items[index + 1])
                    // Python keeps a repeated key's first position and its last value.
                    if let position = positions[key] {
                        entries[position].value = entry
                    } else {
                        positions[key] = entries.count
                        entries.append((key, entry))
                    }
                    index += 2
                }
                value = .dict(entries)
            case .numpyDType:
                value = .numpyDType(object.byteOrder + object.numpyCode)
            case .numpyArray:
                guard let array = object.array else {
                    throw PickleFault.malformed("a numpy array is never given its data (no BUILD)")
                }
                value = .tensor(array)
            }
            object.converted = value
            object.convertedSize = size
            return (value, size)
        }
    }

    private static func unique(_ values: [PickleValue]) -> [PickleValue] {
        var seen = Set<PickleValue>()
        return values.filter { seen.insert($0).inserted }
    }
}
