import Foundation
import VolSegCore

/// How the planner and the trainer write sizes: exact bytes beside GiB where a person must act on
/// the number (a budget, a minimum), the short binary form in progress lines.
extension MemorySize {
    /// `2147483648 bytes (2.00 GiB)`.
    public static func describe(_ bytes: Int) -> String {
        "\(bytes) bytes (\(String(format: "%.2f", Double(bytes) / 1_073_741_824)) GiB)"
    }

    /// `1.25 GiB`, `312.40 MiB`.
    public static func short(_ bytes: Int) -> String { format(bytes) }
}
