import Foundation
import VolSegCore

/// What a plan needs before any planned tensor is built: sizes computed with overflow-checked
/// arithmetic, so that a patch of 1024^3 (or a typo of 10240) is refused in microseconds with
/// the figures, instead of planning a step that no machine could run.
public struct PlanLowerBound: Sendable, Equatable {
    /// The data cache, the batch in use and the prefetched one (images and labels), the network's
    /// full-resolution output, and the runtime reserve: every one of them is live at the loss of
    /// a training step, so the predicted peak is never below this.
    public var bytes: Int

    /// Throws `MemoryBudgetError.sizeOverflow` when a size does not fit in 64 bits.
    public init(patch: [Int], batch: Int, channels: Int, outputChannels: Int, cacheBytes: Int, pipeline: String) throws {
        func overflow() -> MemoryBudgetError { .sizeOverflow(patch: Array(patch.reversed()), batch: batch, pipeline: pipeline) }
        func times(_ a: Int, _ b: Int) throws -> Int {
            let (product, overflowed) = a.multipliedReportingOverflow(by: b)
            if overflowed { throw overflow() }
            return product
        }
        func plus(_ a: Int, _ b: Int) throws -> Int {
            let (sum, overflowed) = a.addingReportingOverflow(b)
            if overflowed { throw overflow() }
            return sum
        }
        let voxels = try patch.reduce(1, times)
        let perChannel = try times(try times(voxels, batch), MemoryLayout<Float>.size)
        let oneBatch = try times(perChannel, try plus(channels, 1))       // image + labels
        var total = try plus(cacheBytes, try times(oneBatch, 2))        // in use + prefetched
        total = try plus(total, try times(perChannel, outputChannels))  // the network's output
        bytes = try plus(total, ResourceUsage.runtimeReserveBytes)
    }
}

/// The memory a plan must fit: the budget when one is given and the machine's physical memory
/// always (a budget above it cannot be honoured either).
public struct PlanMemoryLimit: Sendable, Equatable {
    public var bytes: Int
    /// "the budget" or "physical memory", for messages.
    public var name: String
    public var budgetBytes: Int?

    public init(budget: Int?, physical: Int? = ResourceUsage.physicalMemoryBytes) {
        budgetBytes = budget
        switch (budget, physical) {
        case (let b?, let p?) where p < b: (bytes, name) = (p, "physical memory")
        case (let b?, _): (bytes, name) = (b, "the budget")
        case (nil, let p?): (bytes, name) = (p, "physical memory")
        case (nil, nil): (bytes, name) = (Int.max, "physical memory")
        }
    }

    public var isPhysicalMemory: Bool { name == "physical memory" }
}
