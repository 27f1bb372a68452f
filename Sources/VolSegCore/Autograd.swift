import Foundation

/// Whether ops record autograd history. Recording is on by default; `withNoGrad` turns it off for
/// inference, evaluation and the forward pass of recompute checkpoints.
public enum GradMode {
    // Process-wide on purpose: kernels spread over worker threads never create graph nodes, and
    // model code runs on one thread. Training vs evaluation mode is a separate, explicit argument.
    nonisolated(unsafe) public private(set) static var isEnabled = true

    public static func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
        let saved = isEnabled
        isEnabled = false
        defer { isEnabled = saved }
        return try body()
    }

    public static func withGrad<R>(_ body: () throws -> R) rethrows -> R {
        let saved = isEnabled
        isEnabled = true
        defer { isEnabled = saved }
        return try body()
    }
}

public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R { try GradMode.withNoGrad(body) }

/// Where a gradient goes after a node's backward: to the node that made the input, or straight
/// into a leaf tensor's `grad`.
enum GradEdge {
    case node(GradNode)
    case leaf(Tensor)
}

/// One recorded op. It holds the backward function (which captures exactly the tensors the
/// backward needs, nothing more) and the edges to its inputs' producers, never the inputs
/// themselves, so activations that backward does not need are freed as soon as forward drops them.
public final class GradNode {
    public let name: String
    /// Gradient of the op's output -> gradients of each input (nil where an input needs none).
    var backward: ((Tensor) -> [Tensor?])?
    let edges: [GradEdge?]

    init(name: String, edges: [GradEdge?], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.edges = edges
        self.backward = backward
    }
}

extension Tensor {
    /// Whether a gradient flows back through this tensor.
    public var needsGrad: Bool { requiresGrad || gradNode != nil }

    /// Records `output = op(inputs)` for autograd when recording is on and an input needs a
    /// gradient. `backward` receives the output's gradient and returns one gradient per input
    /// (nil for inputs that need none); it is called at most once.
    /// With `always`, the node is recorded even when no input needs a gradient: a recompute
    /// checkpoint's body may hold parameters that do, which only its backward can reach.
    @discardableResult
    public static func record(_ name: String, output: Tensor, inputs: [Tensor], always: Bool = false,
                              backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled else { return output }
        var any = always
        let edges: [GradEdge?] = inputs.map { input in
            if let node = input.gradNode { any = true; return .node(node) }
            if input.requiresGrad { any = true; return .leaf(input) }
            return nil
        }
        if any { output.gradNode = GradNode(name: name, edges: edges, backward: backward) }
        return output
    }

    /// Back-propagates from a scalar (one-element) tensor with gradient 1.
    public func backward() {
        precondition(count == 1, "backward() needs a scalar loss; shape is \(shape)")
        let seed = Tensor.full(shape, value: 1, planned: isPlanned)
        Tensor.backward(roots: [self], gradients: [seed])
    }

    /// Back-propagates the given gradients from several roots at once. Leaves accumulate (`+=`)
    /// into `grad`. Each node runs once, after every consumer of its output, and its saved
    /// tensors and incoming gradient are dropped right after, so memory falls as backward proceeds.
    public static func backward(roots: [Tensor], gradients: [Tensor]) {
        precondition(roots.count == gradients.count)
        var pending: [ObjectIdentifier: Tensor] = [:]
        var rootNodes: [GradNode] = []
        for (root, gradient) in zip(roots, gradients) {
            precondition(root.shape == gradient.shape, "gradient shape \(gradient.shape) for \(root.shape)")
            if let node = root.gradNode {
                accumulate(gradient, into: &pending, key: ObjectIdentifier(node))
                rootNodes.append(node)
            } else if root.requiresGrad {
                accumulateLeaf(root, gradient)
            }
        }
        GradMode.withNoGrad {
            for node in topologicalOrder(rootNodes) {
                let key = ObjectIdentifier(node)
                guard let gradient = pending.removeValue(forKey: key), let backward = node.backward else {
                    continue
                }
                node.backward = nil
                let inputGradients = backward(gradient)
                precondition(inputGradients.count == node.edges.count, "\(node.name): wrong gradient count")
                for (edge, g) in zip(node.edges, inputGradients) {
                    guard let edge, let g else { continue }
                    switch edge {
                    case .node(let next): accumulate(g, into: &pending, key: ObjectIdentifier(next))
                    case .leaf(let leaf): accumulateLeaf(leaf, g)
                    }
                }
            }
        }
    }

    private static func accumulate(_ g: Tensor, into pending: inout [ObjectIdentifier: Tensor], key: ObjectIdentifier) {
        if let existing = pending[key] {
            pending[key] = existing + g
        } else {
            pending[key] = g
        }
    }

    private static func accumulateLeaf(_ leaf: Tensor, _ g: Tensor) {
        precondition(leaf.shape == g.shape, "gradient shape \(g.shape) for leaf \(leaf.shape)")
        if let existing = leaf.grad {
            existing.addInPlace(g)
        } else {
            // A private copy: the same gradient object may reach several leaves (an add's
            // backward passes it through), and optimizers modify gradients in place.
            leaf.grad = g.copy()
        }
    }

    /// Nodes reachable from the roots, each after all nodes that consume its output.
    private static func topologicalOrder(_ roots: [GradNode]) -> [GradNode] {
        var visited = Set<ObjectIdentifier>()
        var postOrder: [GradNode] = []
        // Iterative depth-first search: deep networks would overflow the stack recursively.
        var stack: [(GradNode, Int)] = []
        for root in roots where !visited.contains(ObjectIdentifier(root)) {
            visited.insert(ObjectIdentifier(root))
            stack.append((root, 0))
            while let (node, index) = stack.last {
                if index < node.edges.count {
                    stack[stack.count - 1].1 += 1
                    if case .node(let next)? = node.edges[index], !visited.contains(ObjectIdentifier(next)) {
                        visited.insert(ObjectIdentifier(next))
                        stack.append((next, 0))
                    }
                } else {
                    postOrder.append(node)
                    stack.removeLast()
                }
            }
        }
        return postOrder.reversed()
    }

    /// Adds `other` into this tensor's memory (gradient accumulation; never on op results in use).
    public func addInPlace(_ other: Tensor) {
        precondition(shape == other.shape, "addInPlace: \(shape) vs \(other.shape)")
        if isPlanned || other.isPlanned { return }
        let a = data, b = other.data
        Parallel.forEachChunk(count, minimumChunk: 1 << 16) { range in
            for i in range { a[i] += b[i] }
        }
    }
}

/// A recompute checkpoint: runs `body` without keeping its intermediate activations, and runs it
/// again during backward to rebuild them. Only the inputs are kept. Trades one extra forward for
/// the activation memory of the sub-graph. `body` must be deterministic (no dropout without a
/// fixed seed) and must not update running statistics the second time; pass `isRecompute` on.
public func checkpoint(_ inputs: [Tensor], _ body: @escaping (_ inputs: [Tensor], _ isRecompute: Bool) -> [Tensor]) -> [Tensor] {
    let outputs = GradMode.withNoGrad { body(inputs, false) }
    guard GradMode.isEnabled else { return outputs }
    let saved = inputs.map { $0.detached() }
    let needs = inputs.map { $0.needsGrad }
    // One shared node: every output's gradient is gathered before the sub-graph is re-run once.
    let collector = CheckpointGradients(outputShapes: outputs.map(\.shape), planned: outputs.first?.isPlanned ?? false)
    var results: [Tensor] = []
    for (index, output) in outputs.enumerated() {
        let result = output.detached()
        if index == 0 {
            Tensor.record("checkpoint", output: result, inputs: inputs, always: true) { gradient in
                collector.gradients[0] = gradient
                let replayInputs = zip(saved, needs).map { tensor, needed -> Tensor in
                    let t = tensor.detached()
                    t.requiresGrad = needed
                    return t
                }
                let replayOutputs = GradMode.withGrad { body(replayInputs, true) }
                let grads = collector.filledGradients()
                collector.gradients = Array(repeating: nil, count: grads.count)
                Tensor.backward(roots: replayOutputs, gradients: grads)
                return replayInputs.map { input in
                    let g = input.grad
                    input.grad = nil
                    return g
                }
            }
        } else {
            // Further outputs hand their gradient to the collector. Their nodes consume the first
            // output, so backward runs them before the first output's node, which re-runs the body.
            Tensor.record("checkpoint.output\(index)", output: result, inputs: [results[0]]) { gradient in
                collector.gradients[index] = gradient
                return [collector.zeroGradient(0)]
            }
        }
        results.append(result)
    }
    return results
}

/// Gradients of a checkpoint's outputs, gathered before its sub-graph is re-run.
final class CheckpointGradients {
    var gradients: [Tensor?]
    let shapes: [[Int]]
    let planned: Bool
    init(outputShapes: [[Int]], planned: Bool) {
        shapes = outputShapes
        gradients = Array(repeating: nil, count: outputShapes.count)
        self.planned = planned
    }
    func zeroGradient(_ index: Int) -> Tensor { Tensor.zeros(shapes[index], planned: planned) }
    func filledGradients() -> [Tensor] {
        (0..<shapes.count).map { gradients[$0] ?? zeroGradient($0) }
    }
}
