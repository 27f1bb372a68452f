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
    /// The GEMMs one run made, as "m x n x k [tA][tB] -> kernel (calls)", most work first.
    public var gemms: [String] = []
}

/// What `volseg bench kernels` measured: the machine's sgemm ceiling and each kernel next to it.
public struct KernelBenchmarkReport: Sendable {
    public var threads: Int
    /// OpenBLAS's sgemm 2048^3: the machine's ceiling as the BLAS library reaches it.
    public var sgemmGFLOPs: Double
    /// Our sgemm (`BLAS.ownSgemm`, the kernel `ownISA` names) at the same size and threads; nil
    /// when the CPU has neither AVX2 nor AVX-512.
    public var ownSgemmGFLOPs: Double? = nil
    public var ownISA: String? = nil
    public var kernels: [KernelTiming]
    /// The machine's FMA peak on the same threads, measured at the start of the same run.
    public var peak: FMAPeakReport

    /// `{"threads":2,"sgemm_gflops":x,"kernels":[{"name":"conv3d_fwd","ms":x,"gflops":x}, ...]}`;
    /// memory-bound kernels have `"gflops":null` and a `"gbps"` value.
    public var json: String {
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return String(format: "%.3f", value)
        }
        let entries = kernels.map { k -> String in
            var fields = ["\"name\":\"\(k.name)\"", "\"ms\":\(number(k.milliseconds))", "\"gflops\":\(number(k.gflops))",
                          "\"fraction_of_peak\":\(number(k.gflops.map { $0 / peak.gflops }))"]
            if k.gflops == nil { fields.append("\"gbps\":\(number(k.gbps))") }
            fields.append("\"gemms\":[" + k.gemms.map { "\"\($0)\"" }.joined(separator: ",") + "]")
            return "{" + fields.joined(separator: ",") + "}"
        }
        return "{\"threads\":\(threads),\"fma_peak\":\(peak.json),\"sgemm_gflops\":\(number(sgemmGFLOPs)),"
            + "\"own_sgemm_gflops\":\(number(ownSgemmGFLOPs)),\"own_isa\":\(ownISA.map { "\"\($0)\"" } ?? "null"),"
            + "\"openblas_core\":\"\(BLAS.openBLASCore)\",\"kernels\":[\(entries.joined(separator: ","))]}"
    }

    /// A table with each compute-bound kernel's GFLOP/s as a fraction of the FMA peak and of sgemm's.
    public var table: String {
        var lines = ["CPU: \(peak.cpuModel)", String(format: "FMA peak: %.1f GFLOP/s (%d threads)", peak.gflops, threads),
                     String(format: "sgemm 2048^3, OpenBLAS (%@ core): %.1f GFLOP/s = %.2f of peak", BLAS.openBLASCore,
                            sgemmGFLOPs, sgemmGFLOPs / peak.gflops)]
        if let ownSgemmGFLOPs, let ownISA {
            lines.append(String(format: "sgemm 2048^3, ours (%@): %.1f GFLOP/s = %.2f of peak", ownISA, ownSgemmGFLOPs, ownSgemmGFLOPs / peak.gflops))
        }
        lines += ["kernel                      ms   GFLOP/s    x peak   x sgemm      GB/s"]
        for k in kernels {
            let ms = k.milliseconds
            let flops = k.gflops.map { String(format: "%9.1f %9.2f %9.2f", $0, $0 / peak.gflops, $0 / sgemmGFLOPs) }
                ?? String(repeating: " ", count: 29)
            let bandwidth = k.gbps.map { String(format: "%9.1f", $0) } ?? ""
            lines.append(k.name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "%9.2f ", ms) + flops + " " + bandwidth)
            for gemm in k.gemms.prefix(4) { lines.append("    gemm " + gemm) }
        }
        return lines.joined(separator: "\n")
    }
}

/// The kernel benchmark: after a warm-up run, the median of `repeats` runs of sgemm 2048^3
/// (OpenBLAS's, and ours, `BLAS.ownSgemm`, on the instruction set `BLAS.ownISA` names), conv3d 32->32 k3 p1 on 1x32x64^3 forward and forward+backward (input and weight
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
        let peak = FMAPeak.measure(repeats: 3, log: log)
        let n = 2048
        let a = filled([n, n], seed: 7), b = filled([n, n], seed: 8), c = Tensor.empty([n, n])
        let sgemm = Kernel(name: "sgemm", flops: 2 * Double(n * n * n), bytes: nil) {
            BLAS.openBLASSgemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
        }
        // Timed like a kernel, but reported next to OpenBLAS's figure rather than as a ratio.
        let ownSgemm = BLAS.ownISA == nil ? [] : [Kernel(name: "sgemm_own", flops: 2 * Double(n * n * n), bytes: nil) {
            BLAS.ownSgemm(threads: Parallel.threadCount, m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n,
                          c: c.data, ldc: n)
        }]
        let kernels = ownSgemm + convolutionKernels() + [instanceNormLeakyReLUKernel()] + resamplingKernels()

        var times = Array(repeating: [Double](), count: kernels.count + 1)
        var gemms = Array(repeating: [String](), count: kernels.count + 1)
        for round in 0...max(1, repeats) {
            for (index, kernel) in ([sgemm] + kernels).enumerated() {
                if round == 0 {
                    // The warm-up run also says where each GEMM went (the timed runs are not logged).
                    gemms[index] = GEMMShapeLog.record { kernel.body() }.map { entry, calls in
                        "\(entry.m) x \(entry.n) x \(entry.k)\(entry.transposeA ? " tA" : "")\(entry.transposeB ? " tB" : "") -> "
                            + "\(entry.kernel.rawValue) (\(calls) call\(calls == 1 ? "" : "s"))"
                    }
                    continue
                }
                let start = DispatchTime.now().uptimeNanoseconds
                kernel.body()
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                times[index].append(ms)
                log(String(format: "%@ run %d: %.2f ms", kernel.name, round, ms))
            }
        }
        let medians = times.map(median)
        let sgemmGFLOPs = sgemm.flops! / medians[0] / 1e6
        var timings = zip(kernels, medians.dropFirst()).enumerated().map { index, pair in
            let (kernel, ms) = pair
            return KernelTiming(name: kernel.name, milliseconds: ms, gflops: kernel.flops.map { $0 / ms / 1e6 },
                                gbps: kernel.bytes.map { $0 / ms / 1e6 }, gemms: gemms[index + 1])
        }
        let own = ownSgemm.isEmpty ? nil : timings.removeFirst().gflops
        return KernelBenchmarkReport(threads: Parallel.threadCount, sgemmGFLOPs: sgemmGFLOPs, ownSgemmGFLOPs: own,
                                     ownISA: BLAS.ownISA?.rawValue, kernels: timings, peak: peak)
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
