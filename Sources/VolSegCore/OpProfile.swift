import Dispatch
import Foundation

/// Where a forward's time goes, per kind of op: `record` times every convolution, transposed
/// convolution, normalisation and concatenation its body runs (the compute of each op, on the
/// calling thread's clock), so `volseg bench unet --profile` can say what a missed speed target
/// is made of. Outside `record` an op pays one atomic load (`ScopedTally`).
public enum OpProfile {
    public struct Line: Sendable {
        public var op: String
        public var milliseconds: Double
        public var calls: Int
    }

    private static let tally = ScopedTally([String: (nanoseconds: UInt64, calls: Int)]())

    /// The ops `body` ran, most time first, and the wall time of the whole body.
    public static func record(_ body: () throws -> Void) rethrows -> (lines: [Line], totalMilliseconds: Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let totals = try tally.record(body)
        let total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let lines = totals.map { Line(op: $0.key, milliseconds: Double($0.value.nanoseconds) / 1e6, calls: $0.value.calls) }
        return (lines.sorted { $0.milliseconds > $1.milliseconds }, total)
    }

    /// Runs `body`, adding its time to `op` while recording; with `path`, to "op (path)", the path
    /// asked for only while recording.
    static func measure<T>(_ name: String, path: (() -> String)? = nil, _ body: () -> T) -> T {
        guard tally.isRecording else { return body() }
        let op = path.map { "\(name) (\($0()))" } ?? name
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        tally.add { totals in
            let previous = totals[op] ?? (0, 0)
            totals[op] = (previous.nanoseconds + elapsed, previous.calls + 1)
        }
        return result
    }
}
