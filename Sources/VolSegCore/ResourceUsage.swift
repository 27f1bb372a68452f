#if canImport(Glibc)
import Foundation
import Glibc
#endif

/// What the operating system says about this process's memory: resident set size now and its
/// high-water mark (Linux /proc/self/status VmRSS and VmHWM), the numbers a memory budget is
/// judged by.
public enum ResourceUsage {
    /// Peak resident bytes since the process started or since `resetPeakResident()`; 0 when the
    /// system does not report it.
    public static var peakResidentBytes: Int { statusField("VmHWM:") }

    /// Resident bytes now.
    public static var residentBytes: Int { statusField("VmRSS:") }

    /// Resident memory outside the memory ledger: Swift runtime, Foundation, OpenBLAS, HDF5 and
    /// libnifti code and buffers, thread stacks, NIfTI decode buffers and allocator slack.
    /// Measured with `volseg train` on synthetic and real data (max RSS - ledger peak was below
    /// 120 MiB, see `testPeakRSSStaysWithinLedgerPeakPlusReserve`), then given headroom. A
    /// process is predicted to peak at the ledger's peak plus this.
    public static let runtimeReserveBytes = 256 << 20

    /// The machine's physical memory, sysconf(_SC_PHYS_PAGES) x page size; nil where the system
    /// does not say. No plan larger than this can run, whatever the budget.
    public static var physicalMemoryBytes: Int? {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return nil }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
        return overflow ? Int.max : bytes
    }

    /// Starts a new high-water mark at the current resident size (Linux: writing 5 to
    /// /proc/self/clear_refs). Returns false where the system does not allow it.
    @discardableResult
    public static func resetPeakResident() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    /// Makes the C allocator give large blocks back to the system when they are freed, so resident
    /// memory follows the ledger: glibc otherwise raises its mmap threshold after the first large
    /// free (up to 32 MiB) and keeps freed activations in its heap, where they count as resident.
    /// A fixed threshold of 256 KiB sends every tensor above it to mmap/munmap.
    public static func returnFreedMemoryToSystem() {
        #if os(Linux)
        // mallopt lives in <malloc.h>, which Swift's Glibc module does not import; look it up.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        _ = mallopt(mmapThreshold, 256 * 1024)
        _ = mallopt(trimThreshold, 1 << 20)
        #endif
    }

    static func statusField(_ name: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            // "VmHWM:     123456 kB"
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kib = Int(parts[1]) { return kib * 1024 }
        }
        return 0
    }
}
