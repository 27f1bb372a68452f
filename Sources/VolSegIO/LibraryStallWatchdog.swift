import Foundation

/// Ends the process with a named error when a call into a C library does not return in time.
///
/// Debian's libhdf5 1.10 loops for ever in its global-heap reader on some corrupt files
/// (`H5Aread` -> `H5T__conv_vlen` -> `H5HG_read`; found by `make fuzz`, kept in `fuzz/known/`).
/// A thread stuck inside the library cannot be cancelled and the library is not re-entrant, so the
/// only way to give the user an answer instead of a hang is to print what was being read and exit
/// non-zero. The guarded calls read a few bytes of metadata, which takes milliseconds on any disk:
/// the default limit (60 s) is far beyond that and can be changed with VOLSEG_LIBRARY_STALL_SECONDS.
package enum LibraryStallWatchdog {
    static let limitSeconds: Double = {
        if let text = ProcessInfo.processInfo.environment["VOLSEG_LIBRARY_STALL_SECONDS"],
           let seconds = Double(text), seconds > 0, seconds.isFinite {
            return seconds
        }
        return 60
    }()

    /// Runs `body`; if it has not returned after the limit, prints "error: <what> did not finish
    /// within N s ..." and exits with status 1. `what` names the file, e.g. "reading attribute
    /// \"config\" of model.h5".
    package static func guarding<Result>(_ what: @autoclosure () -> String, _ body: () throws -> Result) rethrows -> Result {
        let message = "error: \(what()) did not finish within \(formatted(limitSeconds)) s: the file is corrupt "
            + "(libhdf5 loops on it); giving up\n"
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + limitSeconds)
        timer.setEventHandler {
            FileHandle.standardError.write(Data(message.utf8))
            _exit(1)
        }
        timer.resume()
        defer { timer.cancel() }
        return try body()
    }

    private static func formatted(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
