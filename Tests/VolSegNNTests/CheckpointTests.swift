import Foundation
@testable import VolSegCore
@testable import VolSegIO
@testable import VolSegNN
import VolSegTestSupport
import XCTest

final class CheckpointTests: XCTestCase {
    func testCheckpointRoundTripsWeightsBuffersOptimizerAndConfig() throws {
        let initializer = ParameterInitializer(seed: 11)
        let model = Module()
        let conv = model.registerChild("conv", Conv3d(inputChannels: 2, outputChannels: 3, kernelSize: 3, initializer: initializer))
        let norm = model.registerChild("bn", BatchNorm(channels: 3, initializer: initializer))
        norm.runningMean.fill(0.25)
        conv.weight.grad = Tensor.full(conv.weight.shape, value: 0.5)
        let sgd = SGD(parameters: model.trainableParameters)
        sgd.step()
        var checkpoint = try Checkpoint(model: model, config: ["model": "test", "classes": 3],
                                        provenance: ["source": "unit test"], optimizer: sgd)
        checkpoint.training["epoch"] = [4]
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID()).h5")
        defer { try? FileManager.default.removeItem(at: url) }
        try checkpoint.write(to: url)

        let read = try Checkpoint.read(from: url)
        XCTAssertEqual(Set(read.weights.keys), ["conv.weight", "conv.bias", "bn.weight", "bn.bias"])
        XCTAssertEqual(Set(read.buffers.keys), ["bn.running_mean", "bn.running_var"])
        XCTAssertEqual(read.optimizer["conv.weight.momentum_buffer"]?.toArray(), sgd.stateTensors()["conv.weight.momentum_buffer"]?.toArray())
        XCTAssertEqual(read.training["epoch"], [4])
        XCTAssertEqual(read.configObject["model"] as? String, "test")
        XCTAssertEqual(read.provenanceObject["source"] as? String, "unit test")

        let fresh = Module()
        fresh.registerChild("conv", Conv3d(inputChannels: 2, outputChannels: 3, kernelSize: 3, initializer: ParameterInitializer(seed: 99)))
        let freshNorm = fresh.registerChild("bn", BatchNorm(channels: 3, initializer: ParameterInitializer(seed: 99)))
        try fresh.load(state: read.modelState)
        XCTAssertEqual(fresh.namedParameters().first { $0.name == "conv.weight" }?.tensor.toArray(), conv.weight.toArray())
        XCTAssertEqual(freshNorm.runningMean.toArray(), [0.25, 0.25, 0.25])
    }

    func testAFileWithoutWeightsIsNotACheckpoint() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID()).h5")
        defer { try? FileManager.default.removeItem(at: url) }
        try HDF5File.writeAtomically(to: url) { try $0.setAttribute("config", "{}") }
        XCTAssertThrowsError(try Checkpoint.read(from: url)) {
            XCTAssertTrue("\($0)".contains("not a VolSeg checkpoint"))
            XCTAssertEqual($0 as? CheckpointError, .noWeights(path: url.path))
        }
    }
}
