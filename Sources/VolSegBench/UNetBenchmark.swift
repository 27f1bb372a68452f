import Foundation
import VolSegCore
import VolSegModels
import VolSegNN

/// `volseg bench unet`: the `bench-unet` network (1,403,316 parameters) timed the way
/// benchmarks/pytorch_unet.py times the same network in PyTorch, so the two can be compared in one
/// run (benchmarks/compare_unet.sh prints the ratios).
public enum UNetBenchmarkPhase: String, CaseIterable, Sendable {
    /// Forward of 1x4xP^3 (P = --patch), no gradients.
    case forward
    /// One training step on 1x4xP^3: forward, cross-entropy, backward, SGD-Nesterov update.
    case train
    /// Forward of a BraTS-sized 1x4x160x240x240 volume in one piece.
    case volume
}

public struct UNetBenchmarkReport: Sendable {
    public var threads: Int
    public var patch: Int
    public var forwardMilliseconds: Double?
    public var trainStepMilliseconds: Double?
    public var volumeForwardMilliseconds: Double?
    public var peakResidentBytes: Int
    public var ledgerPeakBytes: Int
    /// FLOPs of one forward of 1x4xP^3 (twice the convolutions' multiply-adds, counted by
    /// `ConvWorkCounter` on a planned forward). A training step counts three times this: forward,
    /// input gradient and weight gradient, each a GEMM of the forward's size.
    public var forwardFLOPs: Double = 0
    /// The machine's FMA peak on the same threads, measured at the start of the same run.
    public var peak: FMAPeakReport? = nil
    /// The GEMMs' arithmetic in the forward phases (`--precision`); training is always Float32.
    public var precision: ComputePrecision = .float32
    /// With `profile`: one more forward, its time per kind of op (`OpProfile`).
    public var profile: (lines: [OpProfile.Line], totalMilliseconds: Double)? = nil

    /// The JSON object of the speed issue; phases not run are left out.
    public var json: String {
        var fields: [String] = ["\"threads\":\(threads)", "\"patch\":\(patch)"]
        if let peak { fields.append("\"fma_peak\":\(peak.json)") }
        fields.append("\"precision\":\"\(precision.rawValue)\"")
        fields.append("\"forward_gflop\":\(rounded(forwardFLOPs / 1e9))")
        func fraction(_ flops: Double, _ ms: Double) -> String {
            guard let peak, peak.gflops.isFinite else { return "null" }
            return String(format: "%.3f", peak.fraction(flops: flops, milliseconds: ms))
        }
        if let forwardMilliseconds {
            fields.append("\"forward_ms\":\(rounded(forwardMilliseconds))")
            fields.append("\"forward_fraction_of_peak\":\(fraction(forwardFLOPs, forwardMilliseconds))")
            if precision == .bf16, let bf16 = peak?.bf16GFLOPs {
                fields.append(String(format: "\"forward_fraction_of_bf16_peak\":%.3f", forwardFLOPs / (forwardMilliseconds * 1e6) / bf16))
            }
        }
        if let trainStepMilliseconds {
            fields.append("\"train_step_ms\":\(rounded(trainStepMilliseconds))")
            fields.append("\"train_step_fraction_of_peak\":\(fraction(3 * forwardFLOPs, trainStepMilliseconds))")
        }
        if let volumeForwardMilliseconds { fields.append("\"brats_forward_ms\":\(rounded(volumeForwardMilliseconds))") }
        if let profile {
            let ops = profile.lines.map { String(format: "{\"op\":\"%@\",\"ms\":%.1f,\"calls\":%d}", $0.op, $0.milliseconds, $0.calls) }
            let rest = profile.totalMilliseconds - profile.lines.reduce(0) { $0 + $1.milliseconds }
            fields.append("\"forward_profile\":{\"total_ms\":\(rounded(profile.totalMilliseconds)),\"other_ms\":\(rounded(rest)),"
                          + "\"ops\":[\(ops.joined(separator: ","))]}")
        }
        fields.append("\"peak_rss_bytes\":\(peakResidentBytes)")
        fields.append("\"ledger_peak_bytes\":\(ledgerPeakBytes)")
        return "{" + fields.joined(separator: ",") + "}"
    }

    private func rounded(_ value: Double) -> String { String(format: "%.1f", value) }
}

public enum UNetBenchmark {
    /// `precision` applies to the forward phases; a training step under bf16 is refused (gradients
    /// need Float32 products).
    public static func run(phases: [UNetBenchmarkPhase], patch: Int, repeats: Int, profile: Bool = false,
                           precision: ComputePrecision = .float32,
                           log: (String) -> Void = { _ in }) throws -> UNetBenchmarkReport {
        if precision != .float32 && phases.contains(.train) {
            throw ComputePrecisionError.unavailable(precision, reason: "a training step needs Float32 products; time the forward phases only (--only forward or --only volume)")
        }
        if let reason = ComputePrecision.unavailableReason(precision) { throw ComputePrecisionError.unavailable(precision, reason: reason) }
        let model = try ModelRegistry.make(name: "bench-unet", config: [:], initializer: ParameterInitializer(seed: 0))
        var generator = RandomGenerator(seed: 1)
        let ledger = MemoryLedger.shared
        ledger.resetPeak()
        var report = UNetBenchmarkReport(threads: Parallel.threadCount, patch: patch, peakResidentBytes: 0, ledgerPeakBytes: 0)
        report.precision = precision
        report.peak = FMAPeak.measure(repeats: 3, log: log)
        report.forwardFLOPs = convolutionFLOPs(of: model, input: [1, 4, patch, patch, patch])
        let x = Tensor.randomNormal([1, 4, patch, patch, patch], std: 1, generator: &generator)
        if phases.contains(.forward) {
            model.eval()
            try ComputePrecision.run(precision) {
                report.forwardMilliseconds = median(repeats: repeats, name: "forward", log: log) {
                    _ = withNoGrad { model.forward(x) }
                }
                if profile { report.profile = OpProfile.record { _ = withNoGrad { model.forward(x) } } }
            }
        }
        if phases.contains(.train) {
            model.train()
            let target = Tensor.empty([1, patch, patch, patch])
            for i in 0..<target.count { target.data[i] = Float(generator.next() % 4) }
            let optimizer = SGD(parameters: model.trainableParameters, learningRate: 1e-2, momentum: 0.99,
                                nesterov: true, weightDecay: 3e-5)
            report.trainStepMilliseconds = median(repeats: repeats, name: "train step", log: log) {
                optimizer.zeroGradients()
                let loss = crossEntropyLoss(model.forward(x)[0], target: target)
                loss.backward()
                optimizer.step()
            }
        }
        if phases.contains(.volume) {
            model.eval()
            let volume = Tensor.randomNormal([1, 4, 160, 240, 240], std: 1, generator: &generator)
            report.volumeForwardMilliseconds = try ComputePrecision.run(precision) {
                median(repeats: max(1, repeats - 1), name: "BraTS-sized forward", log: log) {
                    _ = withNoGrad { model.forward(volume) }
                }
            }
        }
        report.peakResidentBytes = ResourceUsage.peakResidentBytes
        report.ledgerPeakBytes = ledger.peakBytes
        return report
    }

    /// Any network's forward on `input` (e.g. an nnU-Net model folder's, `volseg bench nnunet`):
    /// the median time of `repeats` runs after a warm-up, its convolution FLOPs counted on a
    /// planned forward, and the machine's FMA peak measured first in the same run.
    public static func forward(of model: SegmentationModel, input shape: [Int], repeats: Int,
                               log: (String) -> Void = { _ in }) -> (milliseconds: Double, flops: Double, peak: FMAPeakReport) {
        let peak = FMAPeak.measure(repeats: 3, log: log)
        model.eval()
        let flops = convolutionFLOPs(of: model, input: shape)
        var generator = RandomGenerator(seed: 1)
        let x = Tensor.randomNormal(shape, std: 1, generator: &generator)
        let ms = median(repeats: repeats, name: "forward", log: log) { _ = withNoGrad { model.forward(x) } }
        return (ms, flops, peak)
    }

    /// FLOPs of one forward on `input`: twice the convolutions' multiply-adds, counted on a planned
    /// (shape-only) forward, so it costs no arithmetic.
    static func convolutionFLOPs(of model: SegmentationModel, input shape: [Int]) -> Double {
        2 * Double(ConvWorkCounter.count { _ = withNoGrad { model.forward(Tensor.empty(shape, planned: true)) } })
    }

    /// One warm-up run, then the median of `repeats` timed runs.
    static func median(repeats: Int, name: String, log: (String) -> Void, _ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        for run in 1...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            log("\(name) run \(run): \(String(format: "%.1f", ms)) ms")
            times.append(ms)
        }
        times.sort()
        return times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
    }
}
