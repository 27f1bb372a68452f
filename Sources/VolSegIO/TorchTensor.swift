import Foundation
import VolSegCore

/// A tensor as torch.save describes it: a view (shape, strides, offset, all in elements) of a
/// storage. Nothing is copied when a checkpoint is opened; `floats()` reads the view, in
/// row-major order whatever its strides, when it is asked for.
public struct TorchTensor: Hashable, CustomStringConvertible, @unchecked Sendable {
    public let shape: [Int]
    public let strides: [Int]
    public let storageOffset: Int
    let storage: TorchStorage

    /// A view repeating elements (stride 0, as `expand` makes) may hold more values than its
    /// storage, up to this many; past that a few bytes of a hostile file could ask `floats()`
    /// for terabytes.
    static let repeatedElementLimit = 1 << 24
    /// torch's own bound on dimensions.
    static let rankLimit = 64

    /// Checks the view against its storage: every element it reaches must be in the storage.
    init(storage: TorchStorage, shape: [Int], strides: [Int], storageOffset: Int) throws {
        let key = storage.key
        func refuse(_ reason: String) -> PickleFault { .storageOutOfRange(key: key, reason: reason) }
        guard shape.count == strides.count else {
            throw refuse("size has \(shape.count) dimensions, stride \(strides.count)")
        }
        guard shape.count <= Self.rankLimit else { throw PickleFault.limit("tensor dimensions", Self.rankLimit) }
        guard shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), storageOffset >= 0 else {
            throw refuse("negative size, stride or offset (size \(shape), stride \(strides), offset \(storageOffset))")
        }
        var count = 1, last = storageOffset
        for (size, stride) in zip(shape, strides) {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw refuse("size \(shape) has more elements than an Int holds") }
            count = product
            if size > 0 {
                let (reach, overflowReach) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, overflowSum) = last.addingReportingOverflow(reach)
                guard !overflowReach, !overflowSum else { throw refuse("stride \(strides) reaches past any storage") }
                last = sum
            }
        }
        if count > 0 {
            guard last < storage.elementCount else {
                throw refuse("a view of size \(shape), stride \(strides) at offset \(storageOffset) reaches element "
                             + "\(last), the storage holds \(storage.elementCount)")
            }
            guard count <= max(storage.elementCount, Self.repeatedElementLimit) else {
                throw refuse("a view of \(count) elements repeats the storage's \(storage.elementCount) past "
                             + "\(Self.repeatedElementLimit) values")
            }
        } else {
            guard storageOffset <= storage.elementCount else {
                throw refuse("offset \(storageOffset) is past the storage's \(storage.elementCount) elements")
            }
        }
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.storageOffset = storageOffset
    }

    public var dtype: TorchDType { storage.dtype }
    public var count: Int { shape.reduce(1, *) }
    /// The archive key of the storage (the `data/<key>` entry), "numpy" for a numpy array.
    public var storageKey: String { storage.key }
    /// The device torch.save recorded for the storage ("cpu", "cuda:0").
    public var location: String { storage.location }

    /// Row-major with no gaps: the view can be read as one run of the storage.
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// The values in row-major order as Float: float16 and bfloat16 exactly, float64 and large
    /// integers rounded to nearest, bool as 0 and 1.
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let start = buffer.baseAddress { write(into: start) }
            initialized = count
        }
    }

    /// The values in row-major order for integer and bool tensors; nil for floating-point ones.
    public func integers() -> [Int64]? {
        guard !dtype.isFloatingPoint else { return nil }
        let dtype = self.dtype, width = dtype.byteCount
        return [Int64](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = storage.base {
                forEachElement { index, element in buffer[index] = dtype.integer(base, element * width) }
            }
            initialized = count
        }
    }

    func write(into destination: UnsafeMutablePointer<Float>) {
        guard count > 0, let base = storage.base else { return }
        let dtype = self.dtype, width = dtype.byteCount
        #if _endian(little)
        if dtype == .float32 && isContiguous {
            memcpy(destination, base + storageOffset * 4, count * 4)
            return
        }
        #endif
        forEachElement { index, element in destination[index] = dtype.float(base, element * width) }
    }

    /// Calls `body(index, element)` for every element, `index` counting in row-major order and
    /// `element` its position in the storage. The last axis runs in an inner loop of its own.
    private func forEachElement(_ body: (Int, Int) -> Void) {
        guard count > 0 else { return }
        guard let lastAxis = shape.indices.last else { body(0, storageOffset); return }
        var position = [Int](repeating: 0, count: shape.count)
        var rowStart = storageOffset, index = 0
        let rowLength = shape[lastAxis], step = strides[lastAxis]
        while true {
            var element = rowStart
            for _ in 0..<rowLength {
                body(index, element)
                index += 1
                element += step
            }
            var axis = lastAxis - 1
            while axis >= 0 {
                position[axis] += 1
                rowStart += strides[axis]
                if position[axis] < shape[axis] { break }
                rowStart -= strides[axis] * shape[axis]
                position[axis] = 0
                axis -= 1
            }
            if axis < 0 { return }
        }
    }

    /// Two tensors are equal when they are the same view of the same storage (not merely the
    /// same values: compare `floats()` for that).
    public static func == (a: TorchTensor, b: TorchTensor) -> Bool {
        a.storage === b.storage && a.shape == b.shape && a.strides == b.strides && a.storageOffset == b.storageOffset
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(storage))
        hasher.combine(shape)
        hasher.combine(strides)
        hasher.combine(storageOffset)
    }

    public var description: String { "tensor(\(dtype.rawValue), \(shape))" }
}

extension Tensor {
    /// A VolSeg tensor holding a checkpoint tensor's values as Float32, with its shape.
    public convenience init(_ tensor: TorchTensor) {
        self.init(shape: tensor.shape, storage: TensorStorage(count: tensor.count, planned: false))
        if let pointer = storage.pointer { tensor.write(into: pointer) }
    }
}
