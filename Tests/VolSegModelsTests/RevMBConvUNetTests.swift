import Foundation
@testable import VolSegCore
@testable import VolSegModels
@testable import VolSegNN
import VolSegTestSupport
import XCTest

/// The reversible-MBConv U-Net: its size and names, its configuration, the same gradients in
/// every activation-memory strategy, and a training-step memory that grows with the number of
/// blocks only by their weights (reversible) while the stored network's grows by activations.
final class RevMBConvUNetTests: XCTestCase {
    /// Small enough for a debug build: two stages unless told otherwise.
    func small(_ memory: ActivationMemory, blocks: Int = 2, norm: NormKind = .batch, squeezeExcitation: Bool = false,
               widths: [Int] = [8, 16], seed: UInt64 = 3, planned: Bool = false) -> RevMBConvUNet {
        RevMBConvUNet(RevMBConvUNetConfig(inputChannels: 2, classCount: 3, widths: widths, blocksPerStage: blocks,
                                          expansion: 4, squeezeExcitation: squeezeExcitation, norm: norm,
                                          activationMemory: memory),
                      initializer: ParameterInitializer(seed: seed, planned: planned))
    }

    /// Hand count: a coupling on w channels has 2 x (8 (w/2)^2 + 126 (w/2)) parameters; plus stem,
    /// three k2 convs down, three transposed convs up and the head (issue 5's network).
    func testDefaultNetworkSizeAndNames() throws {
        let model = try ModelRegistry.make(name: "revmbconv-unet", config: [:], initializer: ParameterInitializer(planned: true))
        XCTAssertEqual(model.parameterCount, 479_972)
        let names = Set(model.namedParameters().map(\.name))
        for name in ["stem.weight", "encoder.0.1.F.expand.weight", "encoder.3.0.G.bn3.bias", "down.2.weight",
                     "up.0.weight", "decoder.2.1.G.dw.weight", "head.bias"] {
            XCTAssertTrue(names.contains(name), name)
        }
        XCTAssertEqual(Set(model.namedBuffers().map(\.name)).count, (4 + 3) * 2 * 2 * 3 * 2)
        XCTAssertTrue(ModelRegistry.names.contains("revmbconv-unet"))
        XCTAssertEqual(model.sizeDivisor, [8, 8, 8])
    }

    func testConfigurationRoundTripsAndBadValuesAreNamed() throws {
        let config: [String: Any] = ["input_channels": 1, "num_classes": 2, "widths": [8, 16], "blocks_per_stage": 3,
                                     "expansion": 6, "squeeze_excitation": true, "norm": "group", "norm_groups": 2,
                                     "activation_memory": "reversible-stacks"]
        let model = try ModelRegistry.make(name: "revmbconv-unet", config: config, initializer: ParameterInitializer(planned: true))
        let rebuilt = try ModelRegistry.make(name: "revmbconv-unet", config: model.configJSON,
                                             initializer: ParameterInitializer(planned: true)) as! RevMBConvUNet
        XCTAssertEqual(rebuilt.config, (model as! RevMBConvUNet).config)
        XCTAssertEqual(rebuilt.config.norm, .group(2))
        XCTAssertEqual(rebuilt.config.activationMemory, .reversibleStacks)
        XCTAssertEqual(rebuilt.parameterCount, model.parameterCount)

        for (bad, expected) in [(["widths": [8, 15]], "15"), (["norm": "layer"], "layer"), (["depth": 2], "depth"),
                                (["norm": "group", "norm_groups": 3], "3 groups"),
                                (["activation_memory": "fast"], "fast"), (["norm_groups": 2], "norm_groups")] as [([String: Any], String)] {
            XCTAssertThrowsError(try ModelRegistry.make(name: "revmbconv-unet", config: bad,
                                                        initializer: ParameterInitializer(planned: true))) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(bad): \(error)")
                switch (expected, error as? ModelConfigError) {
                case ("depth", .unknownKeys(let model, let keys, _)?):
                    XCTAssertEqual(model, "revmbconv-unet")
                    XCTAssertEqual(keys, ["depth"])
                case ("layer", .invalidValue(_, let key, _, let got)?), ("fast", .invalidValue(_, let key, _, let got)?):
                    XCTAssertEqual(key, bad.keys.first)
                    XCTAssertEqual(got, "'\(expected)'")
                case ("15", .inconsistent(let model, _)?), ("3 groups", .inconsistent(let model, _)?),
                     ("norm_groups", .inconsistent(let model, _)?):
                    XCTAssertEqual(model, "revmbconv-unet")
                default: XCTFail("\(bad): unexpected case \(error)")
                }
            }
        }
    }

    /// One training step of the same weights in the three strategies: the loss, every parameter
    /// gradient (1e-4 relative; all of them together 1e-5) and the running statistics (1e-5) agree.
    func testEveryActivationMemoryStrategyGivesTheStoredGradients() {
        for (norm, squeezeExcitation) in [(NormKind.batch, false), (.batch, true), (.instance, false)] {
            var results: [ActivationMemory: (loss: Float, grads: [[Float]], buffers: [[Float]])] = [:]
            for memory in ActivationMemory.allCases {
                let model = small(memory, norm: norm, squeezeExcitation: squeezeExcitation)
                let x = seededTensor([2, 2, 8, 8, 8], seed: 8)
                let target = seededTensor([2, 8, 8, 8], seed: 9, low: 0, high: 2.99).map { $0.rounded(.down) }
                let loss = crossEntropyLoss(model.forward(x)[0], target: target)
                loss.backward()
                results[memory] = (loss.item(), model.namedParameters().map { $0.tensor.grad!.toArray() },
                                   model.namedBuffers().map { $0.tensor.toArray() })
            }
            let stored = results[.stored]!
            for memory in [ActivationMemory.reversibleStacks, .reversible] {
                let other = results[memory]!
                let label = "\(memory.rawValue), norm \(norm), SE \(squeezeExcitation)"
                XCTAssertEqual(other.loss, stored.loss, accuracy: 1e-5 * abs(stored.loss), label)
                // Per parameter, relative to its own norm, floored at 1e-3 of the largest one: a few
                // gradients are sums that cancel to almost nothing (the squeeze-excitation bias just
                // before a BatchNorm, ~1e-5 against ~1 elsewhere), where float32 rounding of
                // either run is all that is left of them.
                let norms = stored.grads.map { g in g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
                let floor = 1e-3 * norms.max()!
                let worst = zip(zip(other.grads, stored.grads), norms).map { pair, norm in
                    relativeError(pair.0, pair.1) * norm / max(norm, floor)
                }.max()!
                let overall = relativeError(other.grads.flatMap { $0 }, stored.grads.flatMap { $0 })
                print("revmbconv-unet \(label): gradients vs stored: all together \(overall), worst parameter \(worst)")
                XCTAssertLessThan(worst, 1e-4, label)
                XCTAssertLessThan(overall, 1e-5, label)
                for (a, b) in zip(other.buffers, stored.buffers) { XCTAssertLessThan(relativeError(a, b), 1e-5, label) }
            }
        }
    }

    func trainingStepPeak(_ model: RevMBConvUNet, edge: Int, planned: Bool) -> (peak: Int, live: Int) {
        let ledger = MemoryLedger.shared
        let before = ledger.currentBytes
        let result = ledger.measurePeak { () -> Int in
            let optimizer = SGD(parameters: model.trainableParameters)
            let shape = [1, model.inputChannels, edge, edge, edge]
            let x = planned ? Tensor.planned(shape) : seededTensor(shape, seed: 4)
            let target = planned ? Tensor.planned([1, edge, edge, edge]) : Tensor.zeros([1, edge, edge, edge])
            crossEntropyLoss(model.forward(x)[0], target: target).backward()
            optimizer.step()
            return ledger.currentBytes - before
        }
        return (result.peakBytes, result.result)
    }

    func testPlannedTrainingStepReportsTheRealPeak() {
        for memory in ActivationMemory.allCases {
            let real = trainingStepPeak(small(memory), edge: 8, planned: false)
            let planned = trainingStepPeak(small(memory, planned: true), edge: 8, planned: true)
            XCTAssertEqual(planned.peak, real.peak, memory.rawValue)
            XCTAssertEqual(planned.live, real.live, memory.rawValue)
        }
    }

    /// From 1 to 16 couplings per stage, the reversible step's peak grows by less than the added
    /// weights, gradients and momentum buffers; the stored one's grows by far more.
    func testStepMemoryGrowsWithBlocksOnlyByWeightsWhenReversible() {
        func measure(_ memory: ActivationMemory, _ blocks: Int) -> (peak: Int, parameterBytes: Int) {
            let model = small(memory, blocks: blocks, widths: [8, 16, 32], planned: true)
            let parameterBytes = model.parameterCount * 4
            return (trainingStepPeak(model, edge: 64, planned: true).peak, parameterBytes)
        }
        let mib = { (b: Int) in String(format: "%.1f MiB", Double(b) / 1048576) }
        for memory in ActivationMemory.allCases {
            let one = measure(memory, 1), many = measure(memory, 16)
            let weightGrowth = 3 * (many.parameterBytes - one.parameterBytes)
            print("\(memory.rawValue): step peak at 64^3 with 1 block per stage \(mib(one.peak)), with 16 \(mib(many.peak)) "
                  + "(weights + gradients + momentum grew by \(mib(weightGrowth)))")
            if memory == .stored {
                XCTAssertGreaterThan(many.peak - one.peak, 10 * weightGrowth)
            } else {
                XCTAssertLessThanOrEqual(many.peak - one.peak, weightGrowth)
            }
        }
    }

    func testEvaluationModeAndNoGradForward() {
        let model = small(.reversible)
        let x = seededTensor([1, 2, 8, 8, 8], seed: 1)
        let training = withNoGrad { model.forward(x)[0] }
        model.eval()
        let evaluated = withNoGrad { model.forward(x)[0] }
        XCTAssertEqual(evaluated.shape, [1, 3, 8, 8, 8])
        XCTAssertEqual(training.shape, evaluated.shape)
        XCTAssertTrue(evaluated.toArray().allSatisfy(\.isFinite))
    }
}
