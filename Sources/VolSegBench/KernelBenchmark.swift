import Dispatch
import Foundation
import VolSegCore
import VolSegPreprocessing

/// One timed kernel of `volseg bench kernels`.
public struct KernelTiming: Sendable {
    public var name: String
    /// Median wall time of one run, in milliseconds.
    public var milliseconds: Double
    /// Compute-bound kernels: GFLOP/s (2 FLOPs per multiply-add, as sgemm's 2 n^3).
    public var gflops: Double?
    /// Memory-bound kernels: GB/s of the minimal traffic (each input read once, output written once).
    public var gbps: Double?
}

/// What `volseg bench kernels` measured: the machine's sgemm ceiling and each kernel next to it.
public struct KernelBenchmarkReport: Sendable {
    public var threads: Int
    /// OpenBLAS's sgemm 2048^3: the machine's ceiling as the BLAS library reaches it.
    public var sgemmGFLOPs: Double
    /// Our AVX-512 sgemm (BLAS.avx512Sgemm) at the same size and threads; nil without AVX-512.
    public var avx512SgemmGFLOPs: Double? = nil
    public var kernels: [KernelTiming]

    /// `{"threads":2,"sgemm_gflops":x,"kernels":[{"name":"conv3d_fwd","ms":x,"gflops":x}, ...]}`;
    /// memory-bound kernels have `"gflops":null` and a `"gbps"` value.
    public var json: String {
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return String(format: "%.3f", value)
        }
        let entries = kernels.map { k -> String in
            var fields = ["\"name\":\"\(k.name)\"", "\"ms\":\(number(k.milliseconds))", "\"gflops\":\(number(k.gflops))"]
            if k.gflops == nil { fields.append("\"gbps\":\(number(k.gbps))") }
            return "{" + fields.joined(separator: ",") + "}"
        }
        return "{\"threads\":\(threads),\"sgemm_gflops\":\(number(sgemmGFLOPs)),"
            + "\"avx512_sgemm_gflops\":\(number(avx512SgemmGFLOPs)),\"kernels\":[\(entries.joined(separator: ","))]}"
    }

    /// A table with each compute-bound kernel's GFLOP/s as a fraction of sgemm's.
    public var table: String {
        var lines = [String(format: "sgemm 2048^3: %.1f GFLOP/s (%d threads)", sgemmGFLOPs, threads)]
        if let avx512SgemmGFLOPs {
            lines.append(String(format: "sgemm 2048^3, ours (AVX-512): %.1f GFLOP/s (%d threads)", avx512SgemmGFLOPs, threads))
        }
        lines += ["kernel                      ms   GFLOP/s   x sgemm      GB/s"]
        for k in kernels {
            let ms = k.milliseconds
            let flops = k.gflops.map { String(format: "%9.1f %9.2f", $0, $0 / sgemmGFLOPs) } ?? String(repeating: " ", count: 19)
            let bandwidth = k.gbps.map { String(format: "%9.1f", $0) } ?? ""
            lines.append(k.name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "%9.2f ", ms) + flops + " " + bandwidth)
        }
        return lines.joined(separator: "\n")
    }
}

/// The kernel benchmark: after a warm-up run, the median of `repeats` runs of sgemm 2048^3
/// (OpenBLAS's, the ceiling; and ours, `BLAS.avx512Sgemm`, where the CPU has AVX-512), conv3d 32->32 k3 p1 on 1x32x64^3 forward and forward+backward (input and weight
/// gradients), depthwise conv3d 64 channels k3 p1 on 1x64x64^3 forward, and
/// InstanceNorm + LeakyReLU on 1x32x128^3, and resampling 4x128^3 -> 160^3 (nnU-Net's order 3
/// and order 1, next to our trilinear). Ratios are against the sgemm of the same run.
///
/// The runs are interleaved (sgemm, then each kernel, `repeats` times), so that on a machine
/// shared with other work a slow spell slows sgemm and the kernels alike and the ratios stay
/// meaningful.
public enum KernelBenchmark {
    /// One kernel to time: its body, and its FLOPs (compute-bound) or bytes moved (memory-bound).
    struct Kernel {
        var name: String
        var flops: Double?
        var bytes: Double?
        var body: () -> Void
    }

    public static func run(repeats: Int = 5, log: (String) -> Void = { _ in }) -> KernelBenchmarkReport {
        let n = 2048
        let a = filled([n, n], seed: 7), b = filled([n, n], seed: 8), c = Tensor.empty([n, n])
        let sgemm = Kernel(name: "sgemm", flops: 2 * Double(n * n * n), bytes: nil) {
            BLAS.openBLASSgemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
        }
        // Timed like a kernel, but reported next to OpenBLAS's figure rather than as a ratio.
        let ownSgemm = BLAS.avx512Available ? [Kernel(name: "sgemm_avx512", flops: 2 * Double(n * n * n), bytes: nil) {
            BLAS.avx512Sgemm(threads: Parallel.threadCount, m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n,
                             c: c.data, ldc: n)
        }] : []
        let kernels = ownSgemm + convolutionKernels() + [instanceNormLeakyReLUKernel()] + resamplingKernels()

        var times = Array(repeating: [Double](), count: kernels.count + 1)
        for round in 0...max(1, repeats) {
            for (index, kernel) in ([sgemm] + kernels).enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                kernel.body()
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                if round > 0 { times[index].append(ms) }  // round 0 is the warm-up
                if round > 0 { log(String(format: "%@ run %d: %.2f ms", kernel.name, round, ms)) }
            }
        }
        let medians = times.map(median)
        let sgemmGFLOPs = sgemm.flops! / medians[0] / 1e6
        var timings = zip(kernels, medians.dropFirst()).map { kernel, ms in
            KernelTiming(name: kernel.name, milliseconds: ms, gflops: kernel.flops.map { $0 / ms / 1e6 },
                         gbps: kernel.bytes.map { $0 / ms / 1e6 })
        }
        let own = ownSgemm.isEmpty ? nil : timings.removeFirst().gflops
        return KernelBenchmarkReport(threads: Parallel.threadCount, sgemmGFLOPs: sgemmGFLOPs, avx512SgemmGFLOPs: own,
                                     kernels: timings)
    }

    static func convolutionKernels() -> [Kernel] {
        // conv3d 32 -> 32, k3 p1, 1x32x64^3, with bias.
        let x = filled([1, 32, 64, 64, 64], seed: 1)
        let w = filled([32, 32, 3, 3, 3], seed: 2, scale: 0.05)
        let b = filled([32], seed: 3)
        let gy = filled([1, 32, 64, 64, 64], seed: 4)
        let convFLOPs = 2.0 * Double(ConvGeometry(input: x.shape, weight: w.shape, stride: [1], padding: [1], groups: 1).multiplyAdds)
        // Depthwise conv3d, 64 channels, k3 p1, 1x64x64^3.
        let dx = filled([1, 64, 64, 64, 64], seed: 5)
        let dw = filled([64, 1, 3, 3, 3], seed: 6, scale: 0.2)
        return [
            Kernel(name: "conv3d_fwd", flops: convFLOPs, bytes: nil) {
                _ = withNoGrad { conv3d(x, weight: w, bias: b, padding: [1]) }
            },
            // Forward, input gradient and weight gradient: three GEMMs of the forward's size.
            Kernel(name: "conv3d_fwd_bwd", flops: 3 * convFLOPs, bytes: nil) {
                let input = x.detached(), weight = w.detached()
                input.requiresGrad = true; weight.requiresGrad = true
                let y = conv3d(input, weight: weight, bias: b, padding: [1])
                Tensor.backward(roots: [y], gradients: [gy])
            },
            Kernel(name: "depthwise_conv3d_fwd", flops: 2.0 * Double(dx.count * 27), bytes: nil) {
                _ = withNoGrad { conv3d(dx, weight: dw, padding: [1], groups: 64) }
            },
        ]
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// InstanceNorm (affine) + LeakyReLU(0.01) on 1x32x128^3, the fused op the U-Nets run after
    /// every convolution. Memory-bound: GB/s counts x read once and y written once (the kernel
    /// reads x twice, once for the statistics), so it is the speed a user sees per byte of tensor.
    static func instanceNormLeakyReLUKernel() -> Kernel {
        let x = filled([1, 32, 128, 128, 128], seed: 10)
        let gamma = filled([32], seed: 11), beta = filled([32], seed: 12)
        return Kernel(name: "instancenorm_leakyrelu", flops: nil, bytes: 2.0 * Double(x.byteCount)) {
            _ = withNoGrad { instanceNormLeakyReLU(x, weight: gamma, bias: beta, slope: 0.01) }
        }
    }

    /// Resampling a 4-channel 128^3 image to 160^3: nnU-Net's preprocessing (order 3) and logit
    /// export (order 1), and `Resampler.trilinear` as the baseline of the same run. Memory-bound
    /// by the measure: GB/s counts the input read once and the output written once.
    static func resamplingKernels() -> [Kernel] {
        let x = filled([4, 128, 128, 128], seed: 13)
        let target = [160, 160, 160]
        let bytes = Double(x.byteCount + 4 * 160 * 160 * 160 * MemoryLayout<Float>.size)
        return [
            Kernel(name: "resample_nnunet_o3", flops: nil, bytes: bytes) {
                _ = NNUNetResampling.resample(x, to: target, axis: nil, order: 3, separateZ: false)
            },
            Kernel(name: "resample_nnunet_o1", flops: nil, bytes: bytes) {
                _ = NNUNetResampling.resample(x, to: target, axis: nil, order: 1, separateZ: false)
            },
            Kernel(name: "resample_trilinear", flops: nil, bytes: bytes) { _ = Resampler.trilinear(x, to: target) },
        ]
    }

    /// Deterministic values in [-scale, scale): the speed of float arithmetic does not depend on
    /// them, but denormals and NaNs would distort it, so no zeros-only or random-bit buffers.
    static func filled(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        let t = Tensor.empty(shape)
        var state = seed &* 0x9E3779B97F4A7C15 | 1
        let p = t.data
        for i in 0..<t.count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            p[i] = scale * (Float(state >> 40) / Float(1 << 23) - 1)
        }
        return t
    }
}
