import ArgumentParser
import Foundation
import VolSegModels
import VolSegNN
import VolSegNNUNet

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the models and their parameter counts.")

    @Option(name: .customLong("in-channels"), help: "Input channels the counts are for.")
    var inputChannels = 4

    @Option(name: .long, help: "Output classes the counts are for.")
    var classes = 4

    @Flag(name: .long, help: "Print JSON: [{\"name\":...,\"params\":...}, ...].")
    var json = false

    @Option(name: .long, help: "Describe an nnU-Net v2 trained-model folder instead: architecture, parameters, patch, spacing, labels, folds, mirroring axes.")
    var nnunet: String?

    @Option(name: .customLong("chk", withSingleDash: true), help: "With --nnunet: the checkpoint file in each fold.")
    var checkpoint = NNUNetModelFolder.defaultCheckpoint

    func validate() throws {
        if inputChannels < 1 { throw ValidationError("--in-channels must be at least 1, got \(inputChannels)") }
        if classes < 1 { throw ValidationError("--classes must be at least 1, got \(classes)") }
    }

    func run() throws {
        if let nnunet { return try describe(nnunet) }
        let config: [String: Any] = ["input_channels": inputChannels, "num_classes": classes]
        // Planned parameters: STU-Net-H has 1.46 billion of them; counting needs no memory.
        let rows = try ModelRegistry.names.map { name -> (String, Int) in
            let model = try ModelRegistry.make(name: name, config: config,
                                               initializer: ParameterInitializer(planned: true))
            return (name, model.parameterCount)
        }
        if json {
            let objects = rows.map { ["name": $0.0, "params": $0.1] as [String: Any] }
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("model".padding(toLength: 20, withPad: " ", startingAt: 0) + "parameters (\(inputChannels) in, \(classes) classes)")
            for (name, count) in rows {
                print(name.padding(toLength: 20, withPad: " ", startingAt: 0) + count.formatted())
            }
        }
    }

    func describe(_ path: String) throws {
        let folder = try NNUNetModelFolder.open(URL(fileURLWithPath: path), checkpoint: checkpoint)
        let configuration = folder.configuration, architecture = folder.network.config
        let labels: [String]
        switch folder.labels.output {
        case .labels(let values): labels = values.map(String.init)
        case .regions(let regions): labels = regions.map { "\($0.name) \($0.labels) painted \($0.paint)" }
        }
        let fields: [(String, Any)] = [
            ("folder", folder.url.path), ("configuration", configuration.name), ("trainer", folder.trainerName),
            ("plans", folder.plans.plansName),
            ("architecture", architecture.encoder == .plain ? "PlainConvUNet" : "ResidualEncoderUNet"),
            ("stages", architecture.stageCount), ("features_per_stage", architecture.features),
            ("parameters", folder.network.parameterCount), ("input_channels", architecture.inputChannels),
            ("outputs", architecture.classCount), ("patch_size", configuration.patchSize), ("spacing", configuration.spacing),
            ("normalization", configuration.normalization.map(\.rawValue)), ("labels", labels),
            ("region_based", folder.labels.output.isRegionBased), ("folds", folder.folds),
            ("mirroring_axes", folder.mirrorAxes.map { $0 as Any } ?? NSNull()),
            ("transpose_forward", folder.plans.transposeForward), ("image_reader_writer", folder.plans.imageReader.rawValue),
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: Dictionary(uniqueKeysWithValues: fields), options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for (key, value) in fields {
                let text = (value as? [Any]).map { "[" + $0.map { "\($0)" }.joined(separator: ", ") + "]" } ?? "\(value)"
                print(key.padding(toLength: 20, withPad: " ", startingAt: 0) + (value is NSNull ? "none" : text))
            }
        }
    }
}
