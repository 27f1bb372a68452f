import ArgumentParser
import Foundation
import VolSegCore
import VolSegIO
import VolSegModels
import VolSegNN

/// Runs a model on a tensor stored in HDF5: how anyone checks parity with another framework.
struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run a model on a tensor stored in HDF5 (dataset `input`), writing output_0, output_1, ...",
        discussion: """
            Weights are read by parameter name from the group weights/ (and running statistics from
            buffers/ when present). The model runs in evaluation mode. Outputs are written in
            deep-supervision order, full resolution first.
            """)

    @Option(name: .long, help: "A model family (\(ModelRegistry.families.joined(separator: ", "))) or preset.")
    var model: String

    @Option(name: .long, help: "The model configuration: a JSON object, or the path of a .json file.")
    var config: String = "{}"

    @Option(name: .long, help: "HDF5 file with weights/<parameter name>.")
    var weights: String

    @Option(name: .long, help: "HDF5 file with the dataset `input` (N, C, D, H, W).")
    var input: String

    @Option(name: .long, help: "HDF5 file to write.")
    var output: String

    @OptionGroup var common: CommonOptions

    func run() throws {
        common.apply()
        let configObject = try ModelRegistry.parseConfig(config)
        let network = try ModelRegistry.make(name: model, config: configObject, initializer: ParameterInitializer())
        let state = try Checkpoint.readModelState(from: URL(fileURLWithPath: weights))
        do {
            try network.load(state: state)
        } catch let error as StateLoadError {
            throw ValidationError("\(weights): \(error.description)")
        }
        let x = try HDF5File(URL(fileURLWithPath: input)).tensor("input")
        guard x.rank == 5, x.shape[1] == network.inputChannels else {
            throw ValidationError("\(input): dataset `input` has shape \(x.shape); the model needs [N, \(network.inputChannels), D, H, W]")
        }
        for (axis, divisor) in network.sizeDivisor.enumerated() where x.shape[axis + 2] % divisor != 0 {
            throw ValidationError("\(input): spatial size \(Array(x.shape[2...])) must be divisible by \(network.sizeDivisor) for this model")
        }
        network.eval()
        let outputs = withNoGrad { network.forward(x) }
        try HDF5File.writeAtomically(to: URL(fileURLWithPath: output)) { file in
            for (i, y) in outputs.enumerated() { try file.write(y, to: "output_\(i)") }
        }
        if !common.quiet {
            print("wrote \(outputs.count) output(s) to \(output): " + outputs.map { "\($0.shape)" }.joined(separator: ", "))
        }
    }
}
