import Foundation
@testable import VolSegCore
@testable import VolSegModels
@testable import VolSegNN
import VolSegTestSupport
import XCTest

/// The three training stages on the small preset: what trains, what stays fixed, gradients by
/// finite differences, and the planned memory of a training step.
final class HDenseUNetTrainingTests: XCTestCase {
    /// The reference's weighted cross-entropy: background 0.78, liver 0.65, tumour 8.57.
    let lossWeights: [Float] = [0.78, 0.65, 8.57]

    func makeSmall(dropout: Float = 0.3, planned: Bool = false) -> HDenseUNet {
        var config = HDenseUNetConfig.small()
        config.dropoutRate = dropout
        return HDenseUNet(config, presetName: "hdenseunet-small", initializer: ParameterInitializer(seed: 11, planned: planned))
    }

    /// Labels 0/1/2 in blobs, so every class is present.
    func labels(_ shape: [Int]) -> Tensor {
        let (n, d, h, w) = (shape[0], shape[2], shape[3], shape[4])
        var values: [Float] = []
        for _ in 0..<n { for z in 0..<d { for y in 0..<h { for x in 0..<w {
            values.append(y < h / 2 ? 0 : ((x + z) % 8 < 2 ? 2 : 1))
        } } } }
        return Tensor(shape: [n, d, h, w], values: values)
    }

    /// Conv biases followed by a BatchNorm on batch statistics: their gradient is zero (the norm
    /// removes any per-channel constant), so a step may leave them exactly as they were.
    func biasesBeforeBatchNorm(_ names: Set<String>) -> Set<String> {
        names.filter { $0.hasSuffix(".bias") && ($0.contains(".conv_up") || $0 == "fusion.conv.bias") }
    }

    func snapshot(_ model: Module) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: (model.namedParameters() + model.namedBuffers()).map { ($0.name, $0.tensor.toArray()) })
    }

    /// One SGD step (the reference's lr 1e-3 raised to 0.1 so every change is visible; momentum 0.9,
    /// Nesterov) on a slab; returns the optimizer.
    @discardableResult
    func trainingStep(_ model: HDenseUNet, slab: [Int] = [1, 1, 4, 64, 32]) -> SGD {
        let optimizer = SGD(parameters: model.trainableParameters, learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0)
        let loss = crossEntropyLoss(model.forward(seededTensor(slab, seed: 2))[0], target: labels(slab), classWeights: lossWeights)
        XCTAssertTrue(loss.item().isFinite)
        loss.backward()
        optimizer.step()
        return optimizer
    }

    /// Names of the entries that changed, split by part of the network.
    func changes(_ before: [String: [Float]], _ model: Module) -> (changed: Set<String>, unchanged: Set<String>) {
        var changed = Set<String>(), unchanged = Set<String>()
        for (name, tensor) in model.namedParameters() + model.namedBuffers() {
            if tensor.toArray() == before[name]! { unchanged.insert(name) } else { changed.insert(name) }
        }
        return (changed, unchanged)
    }

    func testStage2StepLeavesThe2DWeightsAndRunningStatisticsUnchangedAndTrainsThe3DPart() {
        let model = makeSmall()
        model.setTrainingStage(.hybridFrozen2D)
        XCTAssertFalse(model.dense2d.isTraining)
        XCTAssertTrue(model.trainableParameters.allSatisfy { !$0.name.hasPrefix("dense2d.") })
        let before = snapshot(model)
        let optimizer = trainingStep(model)
        let (changed, unchanged) = changes(before, model)
        let all2D = Set(before.keys.filter { $0.hasPrefix("dense2d.") })
        XCTAssertEqual(all2D.subtracting(unchanged), [], "2D weights or statistics moved in stage 2")
        XCTAssertTrue(all2D.contains { $0.hasSuffix("running_mean") } && all2D.contains { $0.hasSuffix("running_var") })
        XCTAssertTrue(model.dense2d.namedParameters().allSatisfy { $0.tensor.grad == nil }, "frozen parameters got gradients")
        XCTAssertTrue(optimizer.stateTensors().keys.allSatisfy { !$0.hasPrefix("dense2d.") }, "optimizer state for frozen parameters")
        // Every 3D and fusion parameter and running statistic moved.
        let trained = Set(before.keys.filter { !$0.hasPrefix("dense2d.") })
        XCTAssertEqual(trained.subtracting(changed).subtracting(biasesBeforeBatchNorm(trained)), [],
                       "3D part entries that did not change")
        XCTAssertEqual(optimizer.stateTensors().count, model.trainableParameters.count)
    }

    func testStage1TrainsOnlyThe2DNetwork() {
        let model = makeSmall()
        model.setTrainingStage(.twoD)
        let before = snapshot(model)
        trainingStep(model, slab: [1, 1, 5, 64, 32])
        let (changed, unchanged) = changes(before, model)
        let twoD = Set(before.keys.filter { $0.hasPrefix("dense2d.") })
        XCTAssertEqual(twoD.subtracting(changed).subtracting(biasesBeforeBatchNorm(twoD)), [],
                       "2D entries that did not train in stage 1")
        XCTAssertEqual(Set(before.keys).subtracting(twoD).subtracting(unchanged), [], "3D or fusion entries moved in stage 1")
    }

    func testStage3TrainsEveryParameterWithThe2DStatisticsFixed() {
        let model = makeSmall()
        model.setTrainingStage(.endToEnd)
        model.train()  // a blanket train() must not put the 2D BatchNorm back on batch statistics
        let before = snapshot(model)
        trainingStep(model)
        let (changed, unchanged) = changes(before, model)
        // The 2D conv biases train too here: their BatchNorm uses running statistics.
        let zeroGradient = biasesBeforeBatchNorm(Set(before.keys.filter { !$0.hasPrefix("dense2d.") }))
        XCTAssertEqual(Set(model.namedParameters().map(\.name)).subtracting(changed).subtracting(zeroGradient), [],
                       "parameters that did not train")
        XCTAssertTrue(changed.contains("dense2d.conv_up0.bias"))
        let statistics2D = Set(model.dense2d.namedBuffers().map { "dense2d." + $0.name })
        XCTAssertEqual(statistics2D.subtracting(unchanged), [])
        let statistics3D = Set(model.dense3d.namedBuffers().map { "dense3d." + $0.name })
        XCTAssertEqual(statistics3D.subtracting(changed), [])
    }

    /// Finite differences (dropout off, so the function is fixed) on the parameters nearest the
    /// output of each stage: stage 1 with 2D batch statistics, stage 3 with 3D batch statistics
    /// and 2D running ones. Deeper parameters and the slab are checked against PyTorch's autograd
    /// below: in float32, differences through some 30 ReLU and BatchNorm layers are dominated by
    /// kinks and rounding (measured 3% to 150% relative error for steps 1e-1 to 1e-3).
    func testGradientsNearTheOutputMatchFiniteDifferences() {
        let model = makeSmall(dropout: 0)
        let slab = [1, 1, 4, 64, 32]
        let x = seededTensor(slab, seed: 9)
        let target = labels(slab)
        let checked: [(HDenseUNetStage, [String])] = [
            (.twoD, ["dense2d.classifier.bias", "dense2d.bn_up4.weight", "dense2d.bn_up4.bias"]),
            (.endToEnd, ["fusion.classifier.bias", "fusion.norm.weight", "fusion.norm.bias", "dense3d.bn_up4.weight",
                         "dense3d.bn_up4.bias"]),
        ]
        for (stage, names) in checked {
            model.setTrainingStage(stage)
            let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor) })
            let errors = finiteDifferenceErrors(inputs: names.map { parameters[$0]! }, step: 1e-2) { _ in
                crossEntropyLoss(model.forward(x)[0], target: target, classWeights: self.lossWeights)
            }
            for (name, error) in zip(names, errors) {
                print("\(stage) \(name): finite-difference relative error \(error)")
                // Measured 6e-6 next to the classifier, 1e-2 one BatchNorm and ReLU deeper.
                XCTAssertLessThan(error, 2e-2, "\(stage) \(name)")
            }
            for p in model.namedParameters() { p.tensor.grad = nil }
        }
    }

    /// Training-mode gradients of the weighted cross-entropy against PyTorch's autograd in float64
    /// on the same network and weights (make_hdenseunet_reference.py): every parameter's gradient
    /// norm, the small parameters in full, every 10th value of the slab's gradient.
    func testTrainingGradientsEqualThePyTorchReference() {
        let reference = HDenseUNetTests.reference["gradients"] as! [String: Any]
        let slab = reference["slab_shape"] as! [Int]
        let count = slab.reduce(1, *)
        let x = Tensor(shape: slab, values: (0..<count).map { Float(sin(0.05 * Double($0))) })
        let labelCount = count / slab[1]
        let target = Tensor(shape: [slab[0]] + Array(slab[2...]), values: (0..<labelCount).map { Float(($0 * 7 / 13) % 3) })
        let model = makeSmall(dropout: 0)
        for stage in [HDenseUNetStage.twoD, .endToEnd] {
            let expected = reference["stage\(stage.rawValue)"] as! [String: Any]
            fillByFormula(model)
            model.setTrainingStage(stage)
            x.requiresGrad = true
            x.grad = nil
            let loss = crossEntropyLoss(model.forward(x)[0], target: target, classWeights: lossWeights)
            loss.backward()
            XCTAssertEqual(Double(loss.item()), expected["loss"] as! Double, accuracy: 1e-5, "\(stage) loss")
            let norms = expected["norms"] as! [String: Double]
            let largest = norms.values.max()!
            let withGradients = model.namedParameters().filter { $0.tensor.grad != nil }
            XCTAssertEqual(Set(withGradients.map(\.name)), Set(norms.keys), "\(stage): parameters with gradients")
            var worst = (name: "", error: 0.0)
            for (name, p) in withGradients {
                let ours = p.grad!.toArray().reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                let theirs = norms[name]!
                // Conv biases before a training-mode BatchNorm have a zero gradient (the norm
                // removes any constant): both sides must be at rounding level there.
                let error = theirs < 1e-9 * largest ? ours / largest : abs(ours - theirs) / theirs
                if error > worst.error { worst = (name, error) }
                XCTAssertLessThan(error, 1e-3, "\(stage) \(name): |grad| \(ours) vs \(theirs)")
            }
            var fullWorst = 0.0
            for (name, values) in expected["full"] as! [String: [Double]] {
                let p = model.namedParameters().first { $0.name == name }!.tensor
                guard norms[name]! > 1e-9 * largest else { continue }
                fullWorst = max(fullWorst, relativeError(p.grad!.toArray(), values.map(Float.init)))
            }
            let slabGradient = x.grad!.toArray()
            let sampled = stride(from: 0, to: slabGradient.count, by: 10).map { slabGradient[$0] }
            let slabError = relativeError(sampled, (expected["slab_every_10th"] as! [Double]).map(Float.init))
            print("\(stage): loss \(loss.item()); worst gradient-norm error \(worst.error) (\(worst.name)); small parameters in full \(fullWorst); slab \(slabError)")
            XCTAssertLessThan(fullWorst, 1e-3, "\(stage) small parameters")
            XCTAssertLessThan(slabError, 1e-3, "\(stage) slab gradient")
            for p in model.namedParameters() { p.tensor.grad = nil }
        }
        x.requiresGrad = false
    }

    /// The ledger's promise for this model: planning a training step reaches the real peak.
    func stepPeak(stage: HDenseUNetStage, planned: Bool, slab: [Int], recompute: Bool) -> Int {
        let ledger = MemoryLedger.shared
        return ledger.measurePeak { () -> Int in
            let model = makeSmall(planned: planned)
            model.recomputesDenseLayers = recompute
            model.setTrainingStage(stage)
            let optimizer = SGD(parameters: model.trainableParameters, learningRate: 1e-3, momentum: 0.9)
            let x = planned ? Tensor.planned(slab) : seededTensor(slab)
            let target = planned ? Tensor.planned([slab[0]] + Array(slab[2...])) : labels(slab)
            crossEntropyLoss(model.forward(x)[0], target: target, classWeights: lossWeights).backward()
            optimizer.step()
            return 0
        }.peakBytes
    }

    func testPlannedTrainingStepReachesTheRealPeakInEveryStage() {
        for stage in HDenseUNetStage.allCases {
            for recompute in [false, true] {
                let slab = [1, 1, 8, 64, 32]
                let real = stepPeak(stage: stage, planned: false, slab: slab, recompute: recompute)
                let planned = stepPeak(stage: stage, planned: true, slab: slab, recompute: recompute)
                print("hdenseunet-small \(stage) training step at \(slab)\(recompute ? ", recomputing" : ""): peak \(real) bytes")
                XCTAssertEqual(planned, real, "\(stage), recompute \(recompute)")
            }
        }
    }

    /// The staged schedule on a synthetic slab whose classes are intensity bands (a smooth
    /// phantom): the weighted loss falls in each stage within six SGD-Nesterov steps on the CPU.
    func testSmallPresetLearnsASyntheticSlabInEveryStage() {
        let slab = [1, 1, 8, 64, 32]
        let count = slab.reduce(1, *)
        var image = [Float](repeating: 0, count: count), classes = image
        for i in 0..<count {
            let (x, y, z) = (Double(i % 32), Double((i / 32) % 64), Double((i / 2048) % 8))
            let v = sin(x / 5) * cos(y / 7) + 0.2 * sin(z / 2)
            image[i] = Float(v)
            classes[i] = v < -0.2 ? 0 : (v < 0.5 ? 1 : 2)
        }
        let x = Tensor(shape: slab, values: image), target = Tensor(shape: [1, 8, 64, 32], values: classes)
        let model = makeSmall()
        for stage in HDenseUNetStage.allCases {
            model.setTrainingStage(stage)
            let optimizer = SGD(parameters: model.trainableParameters, learningRate: 0.05, momentum: 0.9,
                                nesterov: true, weightDecay: 0)
            var losses: [Float] = []
            for _ in 0..<6 {
                optimizer.zeroGradients()
                let loss = crossEntropyLoss(model.forward(x)[0], target: target, classWeights: lossWeights)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            }
            print("hdenseunet-small \(stage): weighted cross-entropy \(losses.map { String(format: "%.3f", $0) })")
            // Stages 1 and 2 start from untrained parts; stage 3 refines what they learned.
            XCTAssertLessThan(losses.last!, (stage == .endToEnd ? 0.98 : 0.8) * losses[0], "\(stage)")
        }
    }

    /// Recomputing the dense layers in backward changes memory only: the same loss, gradients and
    /// running statistics (updated once, not again by the replay), and a lower peak.
    func testRecomputingDenseLayersKeepsGradientsAndStatisticsAndLowersThePeak() {
        let slab = [1, 1, 8, 64, 32]
        for stage in [HDenseUNetStage.twoD, .endToEnd] {
            var results: [(loss: Float, state: [String: [Float]], gradients: [String: [Float]], peak: Int)] = []
            for recompute in [false, true] {
                let model = makeSmall(dropout: 0)
                model.recomputesDenseLayers = recompute
                model.setTrainingStage(stage)
                let (loss, peak) = MemoryLedger.shared.measurePeak { () -> Float in
                    let loss = crossEntropyLoss(model.forward(seededTensor(slab, seed: 4))[0], target: labels(slab),
                                                classWeights: lossWeights)
                    loss.backward()
                    return loss.item()
                }
                let gradients = Dictionary(uniqueKeysWithValues: model.trainableParameters.map { ($0.name, $0.tensor.grad!.toArray()) })
                results.append((loss, snapshot(model), gradients, peak))
            }
            let (plain, recomputed) = (results[0], results[1])
            print("hdenseunet-small \(stage) at \(slab): forward + backward peak \(plain.peak) bytes, recomputing dense layers \(recomputed.peak)")
            XCTAssertEqual(plain.loss, recomputed.loss, "\(stage)")
            XCTAssertEqual(plain.state, recomputed.state, "\(stage): weights and running statistics")
            XCTAssertEqual(Set(plain.gradients.keys), Set(recomputed.gradients.keys))
            for (name, g) in plain.gradients {
                XCTAssertLessThan(relativeError(recomputed.gradients[name]!, g), 1e-5, "\(stage) \(name)")
            }
            XCTAssertLessThan(recomputed.peak, plain.peak, "\(stage)")
        }
    }

    /// The full network's training step at the paper's 224x224x12 slab, from planning mode, with and
    /// without recomputing the dense layers.
    func testFullPresetTrainingStepMemoryAt224x224x12() throws {
        let ledger = MemoryLedger.shared
        for stage in HDenseUNetStage.allCases {
          for recompute in [false, true] {
            let (parameters, peak) = ledger.measurePeak { () -> Int in
                let model = try! ModelRegistry.make(name: "hdenseunet", config: [:],
                                                    initializer: ParameterInitializer(planned: true)) as! HDenseUNet
                model.recomputesDenseLayers = recompute
                model.setTrainingStage(stage)
                let optimizer = SGD(parameters: model.trainableParameters, learningRate: 1e-3, momentum: 0.9)
                let logits = model.forward(Tensor.planned([1, 1, 12, 224, 224]))[0]
                XCTAssertEqual(logits.shape, [1, 3, 12, 224, 224])
                crossEntropyLoss(logits, target: Tensor.planned([1, 12, 224, 224]), classWeights: lossWeights).backward()
                optimizer.step()
                return model.parameterCount
            }
            print("hdenseunet \(stage)\(recompute ? ", recomputing dense layers" : ""): \(parameters) parameters; training step at 1x1x12x224x224 peaks at \(peak) bytes (\(String(format: "%.2f", Double(peak) / 1_073_741_824)) GiB)")
            // At least the weights and the slab's logits.
            XCTAssertGreaterThan(peak, 4 * parameters + 3 * 12 * 224 * 224 * 4)
          }
        }
    }
}
