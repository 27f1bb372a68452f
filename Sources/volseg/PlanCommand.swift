import ArgumentParser
import Foundation
import VolSegCore
import VolSegModels
import VolSegNN
import VolSegTraining

/// `volseg plan`: memory planning in planning mode (shape-only tensors, exact ledger peaks). Two
/// forms: a training run from a pipeline config (`--config FILE --data DIR`, in
/// PlanTrainingRun.swift) and the reversible-vs-stored comparison of the reversible-MBConv U-Net.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan memory: a training run's patch, batch and recomputed stages, or the reversible comparison.",
        discussion: """
            volseg plan --config FILE --data DIR [--memory-budget SIZE] [--json]
            chooses the patch size, batch size and recomputed stages that `volseg train` uses when the pipeline \
            says auto, and predicts the whole process's peak (ledger peak plus a measured reserve).

            volseg plan --model revmbconv-unet --memory-budget 8GiB --compare-reversible [--json]
            reports, for the reversible network and the identical one that stores activations, the largest cubic \
            patch edge (multiple of 16), the most couplings per stage at 96^3 (up to 64) and the largest base \
            width at 96^3 (multiple of 8, up to 256) whose training step (batch 1, cross-entropy, SGD with \
            momentum) keeps the ledger peak within the budget. Computed in planning mode: exact, no memory used.
            """)

    @Option(name: .long, help: "Model to plan (revmbconv-unet).")
    var model: String?

    @Option(name: .customLong("memory-budget"), help: "Budget for the ledger peak: bytes or a number with KiB/MiB/GiB (1024) or KB/MB/GB (1000), e.g. 8GiB.",
            transform: MemorySize.argument)
    var memoryBudget: MemorySize?

    @Flag(name: .customLong("compare-reversible"), help: "Compare the reversible network with the one that stores activations.")
    var compareReversible = false

    @Option(name: .customLong("model-config"), help: "JSON object (or .json file) changing the compared network, e.g. '{\"expansion\": 6}'.")
    var modelConfig: String?

    @Flag(name: .long, help: "Print {\"reversible\":{...},\"plain\":{...}} as JSON.")
    var json = false

    @Option(name: .long, help: "Pipeline configuration (pipelines/*.yaml) of a training run to plan.")
    var config: String?

    @Option(name: .long, help: "Dataset folder of the training run to plan.")
    var data: String?

    @OptionGroup var common: CommonOptions

    func validate() throws {
        if config != nil || data != nil {
            guard config != nil, data != nil else { throw ValidationError("planning a training run needs both --config FILE and --data DIR") }
            return
        }
        guard memoryBudget != nil else { throw ValidationError("--memory-budget SIZE is required (e.g. 8GiB)") }
        guard let model else { throw ValidationError("--model is required: volseg plan --model revmbconv-unet --memory-budget SIZE --compare-reversible") }
        guard model.lowercased() == "revmbconv-unet" else {
            throw ValidationError("--model '\(model)': the memory comparison is implemented for revmbconv-unet only")
        }
        guard compareReversible else {
            throw ValidationError("--compare-reversible is required: it is the only planning implemented for --model")
        }
    }

    func run() throws {
        if let config, let data {
            try TrainingRunPlanning.run(config: config, data: data, budget: memoryBudget?.bytes, json: json, common: common)
            return
        }
        common.apply()
        let options = try modelConfig.map { try ModelRegistry.parseConfig($0) } ?? [:]
        guard let network = try ModelRegistry.make(name: "revmbconv-unet", config: options,
                                                   initializer: ParameterInitializer(planned: true)) as? RevMBConvUNet else {
            preconditionFailure("the registry built another model for revmbconv-unet")
        }
        let result = ReversibleComparison.run(base: network.config, budgetBytes: memoryBudget!.bytes)
        if json {
            let object = ["reversible": result.reversible.json, "plain": result.plain.json]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(report(result, network.config))
        }
    }

    func report(_ r: ReversibleComparison.Result, _ c: RevMBConvUNetConfig) -> String {
        func ratio(_ a: Int, _ b: Int) -> String { b == 0 ? "-" : String(format: "%.2fx", Double(a) / Double(b)) }
        func row(_ name: String, _ a: Int, _ b: Int, _ note: String = "") -> String {
            name.padding(toLength: 26, withPad: " ", startingAt: 0)
                + String(a).padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(b).padding(toLength: 8, withPad: " ", startingAt: 0) + ratio(a, b) + note
        }
        let edge = r.reversible.maxPatchEdge, plainEdge = r.plain.maxPatchEdge
        let volume = plainEdge == 0 ? "" : String(format: " (%.2fx volume)", pow(Double(edge) / Double(plainEdge), 3))
        let n = r.referencePatchEdge
        let peak = { (m: ActivationMemory) in MemorySize.format(r.stepPeaks[m] ?? 0) }
        let norm: String
        switch c.norm {
        case .batch: norm = "BatchNorm"
        case .instance: norm = "InstanceNorm"
        case .group(let g): norm = "GroupNorm(\(g))"
        }
        return """
            Memory budget \(MemorySize.format(r.budgetBytes)) on the ledger peak of one training step \
            (batch 1, forward, cross-entropy, backward, SGD momentum; planning mode, exact)
            network: revmbconv-unet, widths \(c.widths.map(String.init).joined(separator: "-")), \
            \(c.blocksPerStage) couplings per stage, MBConv e=\(c.expansion)\(c.squeezeExcitation ? " + SE" : ""), \(norm)

                                      reversible  plain   ratio
            \(row("largest patch edge", edge, plainEdge, volume))
            \(row("most blocks per stage", r.reversible.maxBlocksPerStage, r.plain.maxBlocksPerStage, " (at \(n)^3, cap \(ReversibleComparison.blockCap))"))
            \(row("largest base width", r.reversible.maxBaseWidth, r.plain.maxBaseWidth, " (at \(n)^3, cap \(ReversibleComparison.widthCap))"))

            step peak at \(n)^3: reversible \(peak(.reversible)), reversible stacks only (MemCNN's scheme) \
            \(peak(.reversibleStacks)), stored \(peak(.stored))
            searched in \(String(format: "%.1f", r.seconds)) s
            """
    }
}
