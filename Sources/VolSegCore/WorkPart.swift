import Foundation

/// Which share of a case list this process handles: every `count`-th case of the sorted list,
/// starting at `index` (nnU-Net's `-num_parts`/`-part_id` rule, so parts stay balanced when cases
/// are sorted by name and sizes vary along the list).
/// A --num-parts/--part-id or Slurm array setting that names no part.
public struct WorkPartError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}

public struct WorkPart: Equatable, Sendable, CustomStringConvertible {
    public let count: Int
    public let index: Int

    public static let whole = WorkPart(uncheckedCount: 1, index: 0)

    public init(count: Int, index: Int) throws {
        guard count >= 1 else { throw WorkPartError("--num-parts must be at least 1, got \(count)") }
        guard (0..<count).contains(index) else {
            throw WorkPartError("--part-id must be in 0..<\(count) (--num-parts \(count)), got \(index)")
        }
        self.count = count
        self.index = index
    }

    private init(uncheckedCount: Int, index: Int) {
        count = uncheckedCount
        self.index = index
    }

    public var isWhole: Bool { count == 1 }
    public var description: String { "part \(index) of \(count)" }

    /// This part's items of `items` (in the order given, which the caller sorts).
    public func select<T>(_ items: [T]) -> [T] {
        items.enumerated().filter { $0.offset % count == index }.map(\.element)
    }

    /// The part from, in this order: the flags; the MPI rank (under mpirun/srun with more than one
    /// rank); a Slurm array job (part = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of
    /// SLURM_ARRAY_TASK_COUNT; arrays with a step or with gaps are refused, their task ids do not
    /// number the parts); else the whole list.
    public static func resolve(count: Int?, index: Int?, group: any ProcessGroup,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> WorkPart {
        switch (count, index) {
        case let (count?, index?): return try WorkPart(count: count, index: index)
        case (nil, nil): break
        default: throw WorkPartError("--num-parts and --part-id go together: give both or neither")
        }
        if group.size > 1 { return try WorkPart(count: group.size, index: group.rank) }
        guard let id = environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init) else { return .whole }
        func number(_ name: String) throws -> Int {
            guard let text = environment[name], let value = Int(text) else {
                throw WorkPartError("SLURM_ARRAY_TASK_ID is set but \(name) is \(environment[name].map { "'\($0)'" } ?? "missing")")
            }
            return value
        }
        let minimum = try number("SLURM_ARRAY_TASK_MIN"), maximum = try number("SLURM_ARRAY_TASK_MAX")
        let tasks = try number("SLURM_ARRAY_TASK_COUNT")
        if let step = environment["SLURM_ARRAY_TASK_STEP"].flatMap(Int.init), step != 1 {
            throw WorkPartError("a Slurm array with step \(step) (--array=\(minimum)-\(maximum):\(step)) does not number "
                + "its parts 0, 1, 2, ...: use a step of 1 or give --num-parts and --part-id")
        }
        guard maximum - minimum + 1 == tasks else {
            throw WorkPartError("the Slurm array \(minimum)-\(maximum) has \(tasks) tasks, not \(maximum - minimum + 1): "
                + "arrays with gaps do not number their parts; give --num-parts and --part-id")
        }
        return try WorkPart(count: tasks, index: id - minimum)
    }
}
