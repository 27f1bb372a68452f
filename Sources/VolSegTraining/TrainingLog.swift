import Foundation

/// RUNDIR/log.csv: one row per training step, `epoch,iteration,loss,lr,val_dice_<name>...,
/// seconds,ledger_peak_bytes,rss_peak_bytes`. Validation columns are filled on the last step of
/// each validated epoch and empty otherwise, with 10 decimals (so `volseg evaluate` on the same
/// checkpoint can be compared to 1e-6). Losses are written with 9 significant digits (every
/// Float32 exactly), so identical runs give identical files apart from the time and memory
/// columns. A resumed run first drops rows past the checkpoint it continues from.
public final class TrainingLog {
    public let url: URL
    public let structureNames: [String]
    private var handle: FileHandle?

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
            let lines = existing.split(separator: "\n", omittingEmptySubsequences: true)
            guard lines.first.map(String.init) == header else {
                throw TrainingSetupError.logHeaderMismatch(path: url.path, header: header)
            }
            for line in lines.dropFirst() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                if fields.count > 1, let iteration = Int(fields[1]), iteration < keep { text += line + "\n" }
            }
        }
        try Data(text.utf8).write(to: url, options: .atomic)
        handle = try FileHandle(forWritingTo: url)
        try handle?.seekToEnd()
    }

    deinit { try? handle?.close() }

    public func append(_ row: Row) throws {
        let dice = structureNames.indices.map { i -> String in
            guard i < row.validationDice.count else { return "" }
            let v = row.validationDice[i]
            return v.isNaN ? "nan" : String(format: "%.10f", v)
        }
        let fields = [String(row.epoch), String(row.iteration), String(format: "%.9g", row.loss),
                      String(format: "%.9g", row.learningRate)] + dice
            + [String(format: "%.3f", row.seconds), String(row.ledgerPeakBytes), String(row.rssPeakBytes)]
        try handle?.write(contentsOf: Data((fields.joined(separator: ",") + "\n").utf8))
    }

    /// Reads a log back (for curves.png and tests): rows in order.
    public static func read(_ url: URL) throws -> (header: [String], rows: [[String]]) {
        let text = try String(contentsOf: url, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { throw TrainingSetupError.emptyLog(path: url.path) }
        return (header, Array(lines.dropFirst()))
    }
}
