import Foundation
import VolSegIO

/// RUNDIR/log.csv: one row per training step, `epoch,iteration,loss,lr,val_dice_<name>...,
/// seconds,ledger_peak_bytes,rss_peak_bytes`. Validation columns are filled on the last step of
/// each validated epoch and empty otherwise, with 10 decimals (so `volseg evaluate` on the same
/// checkpoint can be compared to 1e-6). Losses are written with 9 significant digits (every
/// Float32 exactly), so identical runs give identical files apart from the time and memory
/// columns. A resumed run first drops rows past the checkpoint it continues from.
///
/// The file is first written whole (`AtomicFile`), then rows are appended with write(2), so a full
/// disk is an error naming log.csv and the reason, and `sync()` puts the rows on disk before a
/// checkpoint says they happened.
public final class TrainingLog {
    public let url: URL
    public let structureNames: [String]
    private var descriptor: Int32 = -1

    public struct Row: Equatable, Sendable {
        public var epoch: Int
        public var iteration: Int
        public var loss: Float
        public var learningRate: Float
        /// Empty, or one value per structure (NaN written as `nan`).
        public var validationDice: [Double]
        public var seconds: Double
        public var ledgerPeakBytes: Int
        public var rssPeakBytes: Int
    }

    public var header: String {
        (["epoch", "iteration", "loss", "lr"] + structureNames.map { "val_dice_\($0)" }
            + ["seconds", "ledger_peak_bytes", "rss_peak_bytes"]).joined(separator: ",")
    }

    /// Opens (creating, or for a resumed run keeping rows up to `keepIterations` steps).
    public init(url: URL, structureNames: [String], keepIterations: Int?) throws {
        self.url = url
        self.structureNames = structureNames
        var text = header + "\n"
        if let keep = keepIterations, let existing = try? String(contentsOf: url, encoding: .utf8) {
            // What follows the last newline is empty, or a row cut short (by an older VolSeg): not kept.
            let lines = existing.split(separator: "\n", omittingEmptySubsequences: false).dropLast().filter { !$0.isEmpty }
            guard lines.first.map(String.init) == header else {
                throw TrainingSetupError.logHeaderMismatch(path: url.path, header: header)
            }
            for line in lines.dropFirst() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                if fields.count > 1, let iteration = Int(fields[1]), iteration < keep { text += line + "\n" }
            }
        }
        try AtomicFile.write(Data(text.utf8), to: url)
        descriptor = open(url.path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: nil) }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// fsync: the rows so far are on disk.
    public func sync() throws {
        guard fsync(descriptor) == 0 else { throw FileWriteError.systemError(path: url.path, code: errno, neededBytes: nil) }
    }

    public func append(_ row: Row) throws {
        let dice = structureNames.indices.map { i -> String in
            guard i < row.validationDice.count else { return "" }
            let v = row.validationDice[i]
            return v.isNaN ? "nan" : String(format: "%.10f", v)
        }
        let fields = [String(row.epoch), String(row.iteration), String(format: "%.9g", row.loss),
                      String(format: "%.9g", row.learningRate)] + dice
            + [String(format: "%.3f", row.seconds), String(row.ledgerPeakBytes), String(row.rssPeakBytes)]
        let line = Array((fields.joined(separator: ",") + "\n").utf8)
        // A full disk can take part of a row: cut it off again, so log.csv holds whole rows only.
        let start = lseek(descriptor, 0, SEEK_END)
        var offset = 0
        while offset < line.count {
            let n = line.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, line.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let code = n < 0 ? errno : EIO
                if start >= 0 { ftruncate(descriptor, start) }
                throw FileWriteError.systemError(path: url.path, code: code, neededBytes: nil)
            }
            offset += n
        }
    }

    /// Reads a log back (for curves.png and tests): rows in order.
    public static func read(_ url: URL) throws -> (header: [String], rows: [[String]]) {
        let text = try String(contentsOf: url, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { throw TrainingSetupError.emptyLog(path: url.path) }
        return (header, Array(lines.dropFirst()))
    }
}
