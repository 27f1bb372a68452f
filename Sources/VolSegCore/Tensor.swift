import Foundation

/// A dense Float32 array in row-major order, PyTorch's layout: volumes are `[N, C, D, H, W]`
/// (W varies fastest, which is NIfTI's x), so reference weights and values apply directly.
///
/// A tensor is a reference: ops never modify their inputs; they return new tensors. A tensor
/// produced by an op on inputs that require gradients carries a `gradNode`, the autograd record
/// of how to send a gradient back to those inputs.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let storage: TensorStorage
    /// Set on leaves (parameters, inputs) whose gradient the caller wants in `grad`.
    public var requiresGrad: Bool
    /// The accumulated gradient of a leaf after `backward()`.
    public var grad: Tensor?
    /// How this tensor was computed, when a gradient must flow through it.
    public internal(set) var gradNode: GradNode?

    public init(shape: [Int], storage: TensorStorage, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(Tensor.elementCount(shape) == storage.count,
                     "shape \(shape) needs \(Tensor.elementCount(shape)) values, storage has \(storage.count)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    // MARK: creation

    /// Uninitialised memory (or a planned tensor). Kernels that overwrite every element use this.
    public static func empty(_ shape: [Int], planned: Bool = false) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(count: elementCount(shape), planned: planned))
    }

    public static func zeros(_ shape: [Int], planned: Bool = false) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(count: elementCount(shape), planned: planned, zeroed: true))
    }

    public static func full(_ shape: [Int], value: Float, planned: Bool = false) -> Tensor {
        let t = empty(shape, planned: planned)
        if let p = t.storage.pointer { p.update(repeating: value, count: t.count) }
        return t
    }

    /// A shape-only tensor for planning mode: it is counted by the ledger but holds no memory.
    public static func planned(_ shape: [Int]) -> Tensor { empty(shape, planned: true) }

    /// Replaces `tensor` with its planned twin (same shape, no memory), releasing the real storage
    /// first so that the ledger never holds both: how a planned run switches over after the parts
    /// it runs for real (reading, preprocessing).
    public static func replaceWithPlanned(_ tensor: inout Tensor) {
        let shape = tensor.shape
        tensor = empty([0])
        tensor = planned(shape)
    }

    public convenience init(shape: [Int], values: [Float], requiresGrad: Bool = false) {
        precondition(values.count == Tensor.elementCount(shape),
                     "\(values.count) values do not fill shape \(shape)")
        let storage = TensorStorage(count: values.count, planned: false)
        values.withUnsafeBufferPointer { storage.pointer!.update(from: $0.baseAddress!, count: values.count) }
        self.init(shape: shape, storage: storage, requiresGrad: requiresGrad)
    }

    public convenience init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    // MARK: facts

    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }
    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var isPlanned: Bool { storage.isPlanned }
    public var byteCount: Int { storage.byteCount }

    /// Row-major strides, in elements.
    public var strides: [Int] { Tensor.strides(for: shape) }
    public static func strides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    // MARK: element access (real tensors only)

    /// The first element. Valid only for a real tensor; the tensor must stay alive while it is used.
    public var data: UnsafeMutablePointer<Float> {
        guard let p = storage.pointer else { preconditionFailure("a planned tensor has no data") }
        return p
    }

    public func toArray() -> [Float] {
        Array(UnsafeBufferPointer(start: data, count: count))
    }

    /// The single value of a one-element tensor (a loss, for example).
    public func item() -> Float {
        precondition(count == 1, "item() needs a one-element tensor, shape is \(shape)")
        return data[0]
    }

    public subscript(indices: Int...) -> Float {
        get { data[flatIndex(indices)] }
        set { data[flatIndex(indices)] = newValue }
    }

    func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == rank, "\(indices.count) indices for rank \(rank)")
        var flat = 0
        for (axis, i) in indices.enumerated() {
            precondition(i >= 0 && i < shape[axis], "index \(i) out of range for axis \(axis) of \(shape)")
            flat = flat * shape[axis] + i
        }
        return flat
    }

    /// A copy with its own storage and no autograd history.
    public func copy() -> Tensor {
        let out = Tensor.empty(shape, planned: isPlanned)
        if !isPlanned { out.data.update(from: data, count: count) }
        return out
    }

    /// The same storage without autograd history (PyTorch's `detach`).
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// Fills every element with `value` in place (for buffers and gradients, never for op results
    /// that autograd may still use).
    public func fill(_ value: Float) {
        if isPlanned { return }
        data.update(repeating: value, count: count)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        if isPlanned { return "Tensor(planned, shape: \(shape))" }
        let preview = UnsafeBufferPointer(start: data, count: min(count, 8)).map { String($0) }
        return "Tensor(shape: \(shape), [\(preview.joined(separator: ", "))\(count > 8 ? ", ..." : "")])"
    }
}
