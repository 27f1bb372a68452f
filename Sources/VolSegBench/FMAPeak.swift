import CVolSegKernels
import Dispatch
import Foundation
import VolSegCore

/// One measured FMA peak: an instruction set on a number of threads.
public struct FMAPeakFigure: Sendable {
    public var isa: String
    public var threads: Int
    public var gflops: Double
}

/// What `volseg bench peak` measured: the FMA peak of every vector width the CPU has, on one thread
/// and on all of VolSeg's threads, in this run. `gflops` (the best all-threads figure) is what the
/// other benchmarks divide by: a fraction of the machine's own peak is comparable between machines
/// whose absolute times differ by 1.5x.
public struct FMAPeakReport: Sendable {
    public var cpuModel: String
    public var figures: [FMAPeakFigure]

    /// The machine's Float32 FMA peak: the best Float32 figure on all threads.
    public var gflops: Double {
        let threads = figures.map(\.threads).max() ?? 1
        return figures.filter { $0.threads == threads && $0.isa != FMAPeak.bf16ISA }.map(\.gflops).max() ?? .nan
    }

    /// The bf16 dot-product peak on all threads (VDPBF16PS), what `--precision bf16` figures are a
    /// fraction of; nil on a CPU without AVX512_BF16.
    public var bf16GFLOPs: Double? {
        let threads = figures.map(\.threads).max() ?? 1
        return figures.first { $0.threads == threads && $0.isa == FMAPeak.bf16ISA }?.gflops
    }

    /// `flops` done in `milliseconds`, as a fraction of `gflops`.
    public func fraction(flops: Double, milliseconds: Double) -> Double {
        flops / (milliseconds * 1e6) / gflops
    }

    public var json: String {
        let entries = figures.map { "{\"isa\":\"\($0.isa)\",\"threads\":\($0.threads),\"gflops\":\(String(format: "%.1f", $0.gflops))}" }
        let model = cpuModel.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "{\"cpu\":\"\(model)\",\"peak_gflops\":\(String(format: "%.1f", gflops)),"
            + "\"bf16_peak_gflops\":\(bf16GFLOPs.map { String(format: "%.1f", $0) } ?? "null"),\"figures\":[\(entries.joined(separator: ","))]}"
    }

    public var table: String {
        var lines = ["CPU: \(cpuModel)", "isa       threads   GFLOP/s"]
        for figure in figures {
            lines.append(figure.isa.padding(toLength: 10, withPad: " ", startingAt: 0)
                         + String(format: "%7d %9.1f", figure.threads, figure.gflops))
        }
        lines.append(String(format: "peak (all threads, widest vectors): %.1f GFLOP/s", gflops))
        if let bf16GFLOPs { lines.append(String(format: "bf16 dot-product peak (all threads): %.1f GFLOP/s", bf16GFLOPs)) }
        return lines.joined(separator: "\n")
    }
}

/// Measures the FMA peak with independent FMA chains (CVolSegKernels/fma_peak.c): each thread runs
/// the same number of rounds at once, and the wall time of the slowest gives the figure. The median
/// of `repeats` runs is kept, after a warm-up run that lets the cores reach their AVX-512 clock.
public enum FMAPeak {
    /// The figures' name for the bf16 dot-product chains (not part of the Float32 peak).
    public static let bf16ISA = "avx512-bf16"

    public static func measure(repeats: Int = 5, log: (String) -> Void = { _ in }) -> FMAPeakReport {
        var figures: [FMAPeakFigure] = []
        let all = Parallel.threadCount
        let threadCounts = all > 1 ? [1, all] : [1]
        if volseg_cpu_supports_avx512f() != 0 {
            for threads in threadCounts {
                figures.append(figure("avx512", threads: threads, flopsPerRound: 768, rounds: 40_000_000, repeats: repeats, log: log) {
                    volseg_fma_chains_avx512($0)
                })
            }
        }
        if volseg_cpu_supports_avx2_fma() != 0 {
            for threads in threadCounts {
                figures.append(figure("avx2", threads: threads, flopsPerRound: 192, rounds: 80_000_000, repeats: repeats, log: log) {
                    volseg_fma_chains_avx2($0)
                })
            }
        }
        if volseg_sgemm_bf16_available() != 0 {
            for threads in threadCounts {
                figures.append(figure(bf16ISA, threads: threads, flopsPerRound: 1536, rounds: 20_000_000, repeats: repeats, log: log) {
                    volseg_dpbf16_chains_avx512($0)
                })
            }
        }
        return FMAPeakReport(cpuModel: CPUModel.name, figures: figures)
    }

    static func figure(_ isa: String, threads: Int, flopsPerRound: Double, rounds: Int, repeats: Int,
                       log: (String) -> Void, chains: @escaping @Sendable (Int) -> Float) -> FMAPeakFigure {
        var times: [Double] = []
        for run in 0...max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                // The result feeds a check the compiler cannot fold, so the chains are not dropped.
                if chains(rounds).isNaN { FileHandle.standardError.write(Data("fma probe gave NaN\n".utf8)) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if run > 0 {
                times.append(seconds)
                log(String(format: "%@ %d thread(s) run %d: %.1f GFLOP/s", isa, threads, run,
                           Double(threads) * flopsPerRound * Double(rounds) / seconds / 1e9))
            }
        }
        times.sort()
        let seconds = times[times.count / 2]
        return FMAPeakFigure(isa: isa, threads: threads, gflops: Double(threads) * flopsPerRound * Double(rounds) / seconds / 1e9)
    }
}
