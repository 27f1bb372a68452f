import Foundation
import Synchronization

/// The one mechanism behind the benchmarks' instruments (`ConvWorkCounter`, `GEMMShapeLog`,
/// `OpProfile`): a tally that hot-path code adds to while a `record` is running. Outside one,
/// `isRecording` is a single relaxed atomic load and nothing is locked, so a GEMM or convolution
/// called from every conv worker pays no lock for instruments nobody reads. The outermost
/// `record` starts from `empty`; nested ones see the outer's tally too.
final class ScopedTally<State>: @unchecked Sendable {
    private let active = Atomic<Int>(0)
    private let lock = NSLock()
    private let empty: State
    private var state: State

    init(_ empty: State) {
        self.empty = empty
        self.state = empty
    }

    var isRecording: Bool { active.load(ordering: .relaxed) > 0 }

    /// Runs `body` with the tally on and returns it as `body` left it.
    func record(_ body: () throws -> Void) rethrows -> State {
        lock.lock()
        if active.load(ordering: .relaxed) == 0 { state = empty }
        active.add(1, ordering: .relaxed)
        lock.unlock()
        defer { active.subtract(1, ordering: .relaxed) }
        try body()
        lock.lock()
        defer { lock.unlock() }
        return state
    }

    /// Adds to the tally when a `record` is running; otherwise does nothing.
    func add(_ change: (inout State) -> Void) {
        guard isRecording else { return }
        lock.lock()
        change(&state)
        lock.unlock()
    }
}
