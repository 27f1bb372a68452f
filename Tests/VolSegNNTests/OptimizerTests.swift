import Foundation
@testable import VolSegCore
@testable import VolSegNN
import VolSegTestSupport
import XCTest

/// SGD-Nesterov and AdamW against torch.optim (Tests/References/optimizer_reference.json, made by
/// make_optimizer_reference.py in the same folder).
final class OptimizerTests: XCTestCase {
    struct Reference: Decodable {
        let initial: [Double]
        let gradients: [[Double]]
        let sgd_nesterov: [[Double]]
        let adamw: [[Double]]
    }

    func loadReference() throws -> Reference {
        let url = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/optimizer_reference.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    func run(_ makeOptimizer: ([(name: String, tensor: Tensor)]) -> Optimizer, expected: [[Double]], reference: Reference) {
        let p = Tensor(shape: [7], values: reference.initial.map(Float.init), requiresGrad: true)
        let optimizer = makeOptimizer([("p", p)])
        for (step, g) in reference.gradients.enumerated() {
            p.grad = Tensor(shape: [7], values: g.map(Float.init))
            optimizer.step()
            let error = relativeError(p.toArray(), expected[step].map(Float.init))
            XCTAssertLessThan(error, 1e-6, "step \(step + 1)")
        }
    }

    func testSGDNesterovMatchesTorch() throws {
        let reference = try loadReference()
        run({ SGD(parameters: $0, learningRate: 1e-2, momentum: 0.99, nesterov: true, weightDecay: 3e-5) },
            expected: reference.sgd_nesterov, reference: reference)
    }

    func testAdamWMatchesTorch() throws {
        let reference = try loadReference()
        run({ AdamW(parameters: $0, learningRate: 1e-3, weightDecay: 1e-2) }, expected: reference.adamw, reference: reference)
    }

    func testFrozenParametersGetNoOptimizerState() {
        let a = Tensor(shape: [3], values: [1, 2, 3], requiresGrad: true)
        let b = Tensor(shape: [3], values: [1, 2, 3], requiresGrad: false)
        a.grad = Tensor(shape: [3], values: [1, 1, 1])
        let sgd = SGD(parameters: [("a", a), ("b", b)])
        sgd.step()
        XCTAssertEqual(Set(sgd.stateTensors().keys), ["a.momentum_buffer"])
        XCTAssertEqual(b.toArray(), [1, 2, 3])
    }

    func testPolyScheduleFollowsNNUNet() {
        let schedule = LearningRateSchedule.poly(exponent: 0.9)
        XCTAssertEqual(schedule.learningRate(initial: 0.01, epoch: 0, totalEpochs: 100), 0.01)
        XCTAssertEqual(schedule.learningRate(initial: 0.01, epoch: 50, totalEpochs: 100), 0.01 * Float(pow(0.5, 0.9)), accuracy: 1e-9)
        XCTAssertEqual(schedule.learningRate(initial: 0.01, epoch: 100, totalEpochs: 100), 0)
    }
}
