import Foundation
import VolSegCore

/// Data-parallel training's one exchange per step: every rank's gradients replaced by their mean
/// over the ranks (so each rank's optimizer takes the same step and the weights stay equal), in
/// buckets of `bucketBytes`, each summed with one MPI_Allreduce.
///
/// The buckets are exchanged after backward, not started during it as PyTorch's DDP does: Open
/// MPI moves a non-blocking collective forward only inside MPI calls (there is no progress thread
/// in Debian's build), and backward keeps every core busy in the kernels, so an allreduce started
/// early would wait for the end of backward anyway and cost a bucket copy per layer hook.
///
/// A parameter without a gradient (not reached by this rank's backward) takes part with zeros, so
/// every rank sends the same layout.
final class GradientAverager {
    let ranks: any ProcessGroup
    let parameters: [(name: String, tensor: Tensor)]
    /// Floats per bucket (at least one).
    let bucketCount: Int
    private var bucket: [Float]

    init(ranks: any ProcessGroup, parameters: [(name: String, tensor: Tensor)], bucketBytes: Int) {
        self.ranks = ranks
        self.parameters = parameters
        let total = parameters.reduce(0) { $0 + $1.tensor.count }
        bucketCount = max(1, min(total, bucketBytes / MemoryLayout<Float>.size))
        bucket = [Float](repeating: 0, count: ranks.size > 1 ? bucketCount : 0)
    }

    /// Replaces every gradient by its mean over the ranks.
    func average() {
        guard ranks.size > 1 else { return }
        let scale = 1 / Float(ranks.size)
        // Pieces of parameters in the current bucket: (parameter index, offset in it, count).
        var pieces: [(index: Int, offset: Int, count: Int)] = []
        var filled = 0
        func flush() {
            guard filled > 0 else { return }
            bucket.withUnsafeMutableBufferPointer { buffer in
                ranks.sum(UnsafeMutableBufferPointer(rebasing: buffer[0..<filled]), operation: "gradient allreduce")
                var position = 0
                for piece in pieces {
                    let tensor = parameters[piece.index].tensor
                    if tensor.grad == nil { tensor.grad = Tensor.zeros(tensor.shape) }
                    let target = tensor.grad!.data + piece.offset
                    for i in 0..<piece.count { target[i] = buffer[position + i] * scale }
                    position += piece.count
                }
            }
            pieces.removeAll(keepingCapacity: true)
            filled = 0
        }
        for (index, parameter) in parameters.enumerated() {
            let count = parameter.tensor.count
            var offset = 0
            while offset < count {
                let n = min(count - offset, bucketCount - filled)
                bucket.withUnsafeMutableBufferPointer { buffer in
                    if let grad = parameter.tensor.grad {
                        for i in 0..<n { buffer[filled + i] = grad.data[offset + i] }
                    } else {
                        for i in 0..<n { buffer[filled + i] = 0 }
                    }
                }
                pieces.append((index, offset, n))
                filled += n
                offset += n
                if filled == bucketCount { flush() }
            }
        }
        flush()
    }
}
