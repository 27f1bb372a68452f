import Foundation
import VolSegCore
import VolSegTraining

/// The one progress display of every long job (segment, evaluate, train, adapt), on stderr so
/// that stdout keeps only results. `live`: a line redrawn in place with \r on a terminal; `plain`
/// (stderr is a file or pipe, or --no-progress): no live line, log lines only; `quiet`: nothing.
final class ProgressDisplay {
    enum Style: Sendable { case live, plain, quiet }

    let style: Style
    private let output: FileHandle
    private var shown = false
    private var lastDraw = Date.distantPast

    init(style: Style, output: FileHandle = .standardError) {
        self.style = style
        self.output = output
    }

    /// --quiet: nothing; --no-progress: plain lines; otherwise live on a terminal, plain when
    /// stderr is a file or pipe.
    convenience init(_ common: CommonOptions) {
        self.init(style: common.quiet ? .quiet : common.noProgress ? .plain : isatty(STDERR_FILENO) != 0 ? .live : .plain)
    }

    var isLive: Bool { style == .live }

    /// Redraws the live line (nothing unless live). Redrawing more than ten times a second only
    /// costs time, so updates in between are dropped, except the `final` one.
    func show(_ text: String, final: Bool = false) {
        guard style == .live else { return }
        let now = Date()
        guard final || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = now
        write(Self.eraseLine + text)
        shown = true
    }

    /// Erases the live line, so that a log or result line can be printed in its place.
    func clear() {
        guard style == .live, shown else { return }
        write(Self.eraseLine)
        shown = false
    }

    /// A log line on stderr (in place of the live line on a terminal); nothing when quiet.
    func message(_ text: String) {
        guard style != .quiet else { return }
        clear()
        write(text + "\n")
    }

    /// `mm:ss`, or `h:mm:ss` from an hour on; `--:--` while unknown.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }

    private static let eraseLine = "\r\u{1B}[2K"

    private func write(_ text: String) { output.write(Data(text.utf8)) }
}

/// The trainer reports; the display shows its steps as the live line.
extension ProgressDisplay: TrainingProgressReporter {
    func step(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Float, stepsPerSecond: Double,
              secondsLeft: Double, residentBytes: Int) {
        show(String(format: "epoch %d/%d  step %d/%d  loss %.4f  %.2f it/s  ETA %@  mem %@",
                    epoch + 1, epochs, step, steps, loss, stepsPerSecond, Self.duration(secondsLeft),
                    MemorySize.format(residentBytes)),
             final: step == steps)
    }
}
