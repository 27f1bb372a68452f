/// What a training run tells the person watching: a message per event (data, plan, resume, one
/// line per epoch) and a step report after every optimizer step. How it is shown (a live line on a
/// terminal, plain lines otherwise, nothing in quiet mode) is the command line's one progress
/// display; training only says what happened, so it needs nothing from the layer above it.
public protocol TrainingProgressReporter: AnyObject {
    func message(_ text: String)
    func step(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Float, stepsPerSecond: Double,
              secondsLeft: Double, residentBytes: Int)
}

/// Reports nothing: the trainer's default, for tests and library callers that only want the result.
public final class SilentTrainingProgress: TrainingProgressReporter {
    public init() {}
    public func message(_ text: String) {}
    public func step(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Float, stepsPerSecond: Double,
                     secondsLeft: Double, residentBytes: Int) {}
}
