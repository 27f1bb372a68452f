import VolSegCore

/// Dropout that acts in training mode only, with its own seeded generator so that a run is
/// repeatable (the seed is drawn from the model's initializer when the layer is built).
public final class Dropout: Module {
    public let rate: Float
    public var generator: RandomGenerator

    public init(rate: Float, initializer: ParameterInitializer) {
        precondition(rate >= 0 && rate < 1, "Dropout: rate \(rate) must be in [0, 1)")
        self.rate = rate
        generator = RandomGenerator(seed: initializer.generator.next())
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard isTraining && rate > 0 else { return x }
        return dropout(x, rate: rate, generator: &generator)
    }
}
