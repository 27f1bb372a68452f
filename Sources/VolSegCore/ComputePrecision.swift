import CVolSegKernels
import Foundation

/// The arithmetic of the GEMMs (the convolutions, transposed convolutions and linear layers) while a
/// network runs: Float32 everywhere, or, for inference on CPUs with AVX512_BF16, products of
/// bfloat16-rounded operands summed in Float32 (`BLAS.sgemm` sends every GEMM to
/// `volseg_sgemm_bf16`). Tensors, norms, activations, depthwise convolutions, softmax and the
/// sliding-window sums stay Float32 either way; only the GEMMs' inputs are rounded. The direct
/// convolution kernel (`ConvDirect`) rounds likewise, except on convolutions with fewer than 8 input
/// channels per group (a network's first), which it runs in Float32.
///
/// The setting is process-wide and scoped (`run(_:_:)`), so the command that asked for it
/// (`segment --precision bf16`, `evaluate --model --precision bf16`) covers every layer and worker
/// thread of its networks without each layer carrying it. Training never runs under it: gradients
/// need Float32 products.
public enum ComputePrecision: String, CaseIterable, Sendable {
    case float32
    case bf16

    /// What a GEMM runs with now (`float32` outside `run(.bf16, ...)`).
    public static var current: ComputePrecision { lock.withLock { active } }

    nonisolated(unsafe) private static var active = ComputePrecision.float32
    private static let lock = NSLock()

    /// Whether this CPU can run `precision` (bf16: AVX-512F and AVX512_BF16, and our own kernels not
    /// turned off with VOLSEG_GEMM=openblas or VOLSEG_ISA=avx2).
    public static func isAvailable(_ precision: ComputePrecision) -> Bool { unavailableReason(precision) == nil }

    /// Why this machine cannot run `precision`, or nil when it can.
    public static func unavailableReason(_ precision: ComputePrecision) -> String? {
        switch precision {
        case .float32:
            return nil
        case .bf16:
            if volseg_sgemm_bf16_available() == 0 {
                return "this CPU (\(CPUModel.name)) has no AVX512_BF16 instructions (bf16 dot products with Float32 sums); "
                    + "run without --precision, in Float32"
            }
            if BLAS.ownISA != .avx512 {
                return "our AVX-512 kernels are turned off (VOLSEG_GEMM=openblas or VOLSEG_ISA=avx2), and the bf16 GEMM is one of them"
            }
            return nil
        }
    }

    /// Runs `body` with every GEMM in `precision`; throws `ComputePrecisionError` before running
    /// anything where this machine cannot. Not reentrant with another precision: a nested call with
    /// a different one is a programming error.
    public static func run<T>(_ precision: ComputePrecision, _ body: () throws -> T) throws -> T {
        if let reason = unavailableReason(precision) { throw ComputePrecisionError.unavailable(precision, reason: reason) }
        let previous: ComputePrecision = lock.withLock {
            let previous = active
            precondition(previous == .float32 || previous == precision, "ComputePrecision.run: \(precision) inside \(previous)")
            active = precision
            return previous
        }
        defer { lock.withLock { active = previous } }
        return try body()
    }
}

public enum ComputePrecisionError: Error, CustomStringConvertible, Equatable {
    case unavailable(ComputePrecision, reason: String)

    public var description: String {
        switch self {
        case .unavailable(let precision, let reason): return "--precision \(precision.rawValue) cannot run here: \(reason)"
        }
    }
}
