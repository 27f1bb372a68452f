import ArgumentParser
import Foundation
import VolSegModels
import VolSegNN

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the models and their parameter counts.")

    @Option(name: .customLong("in-channels"), help: "Input channels the counts are for.")
    var inputChannels = 4

    @Option(name: .long, help: "Output classes the counts are for.")
    var classes = 4

    @Flag(name: .long, help: "Print JSON: [{\"name\":...,\"params\":...}, ...].")
    var json = false

    func validate() throws {
        if inputChannels < 1 { throw ValidationError("--in-channels must be at least 1, got \(inputChannels)") }
        if classes < 1 { throw ValidationError("--classes must be at least 1, got \(classes)") }
    }

    func run() throws {
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
}
