import ArgumentParser
import Foundation
import VolSegAdaptation
import VolSegCore
import VolSegInference
import VolSegIO
import VolSegNN
import VolSegTraining

struct AdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt",
        abstract: "Adapt a trained BatchNorm model to a new scanner from unlabeled target scans (AdaBN or progressive).",
        discussion: """
            Source-free: only the checkpoint and the target images are read, never labels. The target is \
            preprocessed with the checkpoint's own preprocessing (for CT, the training set's HU statistics), \
            so a scanner's intensity shift reaches the network and its BatchNorm statistics.
            adabn: every weight kept; each BatchNorm's running mean and variance are re-estimated from target \
            batches drawn as the trainer draws them (--sampling trainer: --batches batches of --batch-size windows, \
            the --foreground-share centred on the source model's own predicted foreground, each the fullest of \
            --foreground-candidates draws, so the batches hold about as much foreground as training batches did), averaged as PyTorch's \
            momentum=None does, all layers measured in one forward per batch with BatchNorm in training mode.
            progressive (after Liu et al., MICCAI 2021): per iteration one target batch drawn as for adabn; statistics \
            updated with momentum eta_t = initial-momentum * momentum-decay^(t-1); BatchNorm scale and shift \
            (only) tuned by Adam on entropy-weight * mean prediction entropy + anchor-weight * \
            sum_k alpha_k ((g_k - g_k^s)^2 + (b_k - b_k^s)^2), alpha_k proportional to 1/(1 + |mu_s/sigma_s - mu_t/sigma_t|).
            Models without BatchNorm (InstanceNorm STU-Net, unet3d) are refused: they store no statistics to adapt.
            """)

    @Option(name: [.customShort("m"), .long], help: "The trained checkpoint (.h5) with its config.")
    var model: String

    @Option(name: .long, parsing: .upToNextOption,
            help: "Target scans: a dataset folder (BraTS, MSD, LiTS, nnU-Net), a folder of NIfTI images (single-channel models) or image files.")
    var data: [String]

    @Option(name: .long, help: "The adapted checkpoint to write (.h5); written only when adaptation succeeds.")
    var out: String

    @Option(name: .long, help: "The adaptation (see above).")
    var method: AdaptationMethod

    @Option(name: .long, help: "adabn: at most this many windows (seeded random choice; default every window). progressive: iterations (default 60: with the default decay the momentum is 0.025 by then and the statistics have settled).")
    var iterations: Int?

    @Option(name: .long, help: "adabn: trainer (default: batches drawn as the trainer draws them, batch-size windows each, the foreground share centred on the source model's own predicted foreground; the source statistics are an average of such batches, so an unshifted target reproduces them) or sliding (every sliding window, see --window-step and --windows-per-batch).")
    var sampling: AdaBN.Sampling = .trainer

    @Option(name: .long, help: "adabn with trainer sampling: batches averaged (default 50).")
    var batches: Int = 50

    @Option(name: .customLong("batch-size"), help: "adabn with trainer sampling, and progressive: windows per batch (default 2, the default liver pipeline's training batch).")
    var batchSize: Int = 2

    @Option(name: .customLong("foreground-share"), help: "adabn with trainer sampling, and progressive: share of each batch centred on the source model's predicted foreground (default 1: training batches are foreground-rich, a target scan is mostly not the organ, and BatchNorm statistics follow content as well as scanner).")
    var foregroundShare: Double = 1

    @Option(name: .customLong("foreground-candidates"), help: "adabn with trainer sampling, and progressive: each foreground-centred window is the fullest of this many draws (default 8: brings the windows' predicted foreground share close to the training batches'; 1 draws as the trainer does).")
    var foregroundCandidates: Int = 8

    @Option(name: .customLong("windows-per-batch"), help: "adabn: target windows concatenated into one forward (default: all of them; every BatchNorm then normalises with statistics of the whole target, so each layer is measured on the features the adapted network will produce).")
    var windowsPerBatch: Int?

    @Option(name: .long, help: "adabn: batch-average (default: PyTorch momentum=None, the mean of per-batch unbiased variances, the kind of estimate the trainer's running statistics are) or pooled (variance over every voxel of every window, E[x^2] - E[x]^2, the spread the fixed estimate must cover at inference)).")
    var accumulation: AdaBN.Accumulation = .batchAverage

    @Option(name: .customLong("window-step"), help: "adabn: sliding-window step as a fraction of the window (default 1: the windows tile the target without overlap, so every voxel counts once).")
    var windowStep: Double = 1

    @Option(name: .customLong("initial-momentum"), help: "progressive: momentum of the first statistics update (default 0.5: half-way from source to target at once, the source being known to be off).")
    var initialMomentum: Double = 0.5

    @Option(name: .customLong("momentum-decay"), help: "progressive: momentum factor per iteration (default 0.95: halves every 13.5 iterations; early batches move the estimate, later ones refine it).")
    var momentumDecay: Double = 0.95

    @Option(name: .customLong("learning-rate"), help: "progressive: Adam step for BatchNorm scale/shift (default 1e-3: at most ~0.06 change in 60 steps, re-balances channels without relearning the task).")
    var learningRate: Float = 1e-3

    @Option(name: .customLong("anchor-weight"), help: "progressive: weight of the transferability-weighted pull to the source scale/shift (default 1, relative to the entropy term).")
    var anchorWeight: Double = 1

    @Option(name: .customLong("entropy-weight"), help: "progressive: weight of the mean prediction entropy (default 1).")
    var entropyWeight: Double = 1

    @OptionGroup var common: CommonOptions

    func validate() throws {
        guard batches >= 1, batchSize >= 1, foregroundCandidates >= 1 else {
            throw ValidationError("--batches, --batch-size and --foreground-candidates must be at least 1")
        }
        guard foregroundShare >= 0 && foregroundShare <= 1 else { throw ValidationError("--foreground-share must be in [0, 1], got \(foregroundShare)") }
        if let windowsPerBatch, windowsPerBatch < 1 { throw ValidationError("--windows-per-batch must be at least 1, got \(windowsPerBatch)") }
        guard windowStep > 0 && windowStep <= 1 else { throw ValidationError("--window-step must be in (0, 1], got \(windowStep)") }
        if let iterations, iterations < 1 { throw ValidationError("--iterations must be at least 1, got \(iterations)") }
        guard initialMomentum > 0 && initialMomentum <= 1 else { throw ValidationError("--initial-momentum must be in (0, 1], got \(initialMomentum)") }
        guard momentumDecay > 0 && momentumDecay <= 1 else { throw ValidationError("--momentum-decay must be in (0, 1], got \(momentumDecay)") }
        guard learningRate >= 0, anchorWeight >= 0, entropyWeight >= 0 else {
            throw ValidationError("--learning-rate, --anchor-weight and --entropy-weight must not be negative")
        }
    }

    func run() throws {
        common.apply()
        let modelURL = URL(fileURLWithPath: model), outURL = URL(fileURLWithPath: out)
        // Before any work: the output's folder must be writable and the output no input.
        try AtomicFile.checkFolder(of: outURL)
        try OutputCheck.refuseOverwriting([modelURL] + data.map { URL(fileURLWithPath: $0) }, with: outURL)
        AtomicFile.removeStaleTemporaries(in: outURL.deletingLastPathComponent())
        let bundle = try ModelBundle.load(modelURL)
        // Refused before any target is read: a model without BatchNorm has nothing to adapt.
        _ = try BatchNormLayers(model: bundle.model, modelName: model)
        let target = try AdaptationTarget.find(data.map { URL(fileURLWithPath: $0) }, modalities: bundle.config.modalities)
        try OutputCheck.refuseOverwriting(target.files, with: outURL)
        let progress = ProgressDisplay(common)
        let say: (String) -> Void = { progress.clear(); if !common.quiet { print($0) } }
        say("target: \(target.scans.count) scan(s)")
        let images = try target.preprocessed(with: bundle.config.preprocessor)
        let windows = AdaptationWindows(images: images, patch: bundle.config.patch, divisor: bundle.model.sizeDivisor)
        var constants: [String: Any] = [:]
        let start = Date()
        switch method {
        case .adabn:
            var settings = AdaBN.Settings()
            settings.maxWindows = iterations
            settings.sampling = sampling
            settings.batches = batches
            settings.batchSize = batchSize
            settings.foregroundShare = foregroundShare
            settings.foregroundCandidates = foregroundCandidates
            settings.windowsPerBatch = windowsPerBatch
            settings.accumulation = accumulation
            settings.step = windowStep
            let report = try AdaBN.adapt(bundle.model, modelName: model, output: bundle.config.output, windows: windows,
                                         settings: settings, seed: common.seed) { done, total in
                progress.show("adabn: batch \(done)/\(total)", final: done == total)
            }
            constants = settings.dictionary.merging(["windows": report.windows, "batches": report.batches, "window": windows.window]) { a, _ in a }
            say("adabn: \(report.layersAdapted) of \(report.layerCount) BatchNorm layers re-estimated over \(report.windows) window(s) in \(report.batches) batch(es)")
        case .progressive:
            var settings = ProgressiveAdaptationSettings()
            if let iterations { settings.iterations = iterations }
            settings.initialMomentum = initialMomentum
            settings.momentumDecay = momentumDecay
            settings.learningRate = learningRate
            settings.anchorWeight = anchorWeight
            settings.entropyWeight = entropyWeight
            settings.batchSize = batchSize
            settings.foregroundShare = foregroundShare
            settings.foregroundCandidates = foregroundCandidates
            let report = try ProgressiveAdaptation.adapt(bundle.model, modelName: model, output: bundle.config.output,
                                                         windows: windows, settings: settings, seed: common.seed) { done, total in
                progress.show("progressive: iteration \(done)/\(total)", final: done == total)
            }
            constants = settings.dictionary.merging(["window": windows.window]) { a, _ in a }
            say(String(format: "progressive: %d iterations, entropy %.4f -> %.4f, largest scale change %.4f, shift change %.4f",
                       report.iterations, report.firstEntropy, report.lastEntropy, report.largestScaleChange, report.largestShiftChange))
        }
        // The source's own provenance travels along, so the adapted file still says how it was trained.
        let sourceProvenance = (try? Checkpoint.read(from: modelURL).provenanceObject) ?? [:]
        let provenance: [String: Any] = [
            "source_provenance": sourceProvenance,
            "adapted_from": modelURL.standardizedFileURL.path, "adaptation_method": method.rawValue,
            "adaptation_constants": constants, "target_files": target.files.map(\.standardizedFileURL.path),
            "adapted_at": ISO8601DateFormatter().string(from: Date()), "seed": common.seed,
        ]
        try bundle.write(to: outURL, provenance: provenance)
        say(String(format: "wrote %@ (%.1f s)", out, Date().timeIntervalSince(start)))
    }
}
