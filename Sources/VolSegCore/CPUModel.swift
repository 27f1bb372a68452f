import Foundation

/// The CPU this process runs on, as the README's figures and the refusals name it.
public enum CPUModel {
    /// /proc/cpuinfo's `model name` (for example "AMD EPYC" or "Intel(R) Xeon(R) Platinum 8488C"),
    /// or "unknown".
    public static var name: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
