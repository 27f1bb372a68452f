import Foundation
import VolSegCore

/// What a training run tells the person watching: on a terminal a live line redrawn each step
/// (epoch, step, loss, steps per second, time left, memory), otherwise plain lines, one per epoch.
public final class TrainingProgress {
    public enum Style: Sendable { case live, plain, quiet }

    public let style: Style
    private let output: FileHandle
    private var lastDraw = Date.distantPast

    public init(style: Style, output: FileHandle = .standardError) {
        self.style = style
        self.output = output
    }

    /// Live on a terminal, plain lines when stderr is a file or pipe.
    public static func automaticStyle() -> Style { isatty(STDERR_FILENO) != 0 ? .live : .plain }

    public func message(_ text: String) {
        guard style != .quiet else { return }
        if style == .live { write("\r\u{1B}[2K") }
        write(text + "\n")
    }

    public func step(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Float, stepsPerSecond: Double,
                     secondsLeft: Double, residentBytes: Int) {
        guard style == .live else { return }
        // Redrawing more than ten times a second only costs time.
        let now = Date()
        guard step == steps || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        let line = String(format: "epoch %d/%d  step %d/%d  loss %.4f  %.2f it/s  ETA %@  mem %@",
                          epoch + 1, epochs, step, steps, loss, stepsPerSecond, Self.duration(secondsLeft),
                          MemorySize.format(residentBytes))
        write("\r\u{1B}[2K" + line)
    }

    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }

    private func write(_ text: String) { output.write(Data(text.utf8)) }
}
