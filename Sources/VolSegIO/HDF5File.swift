import CHDF5
import Foundation
import VolSegCore

/// An open HDF5 file; it is also its root group, so `file.tensor("conv3d_k3s1p1/x")` reads a
/// dataset by its full path (see `HDF5Node` for datasets, groups and attributes).
///
/// The file closes when `close()` is called or the last reference goes. Groups opened from it hold
/// a reference, so the file outlives them; `close()` closes them too (HDF5's "strong" close), so a
/// file written by `writeAtomically` is complete on disk before it is renamed.
///
/// A close that fails (a full disk) leaves HDF5's file identifier valid but its state half torn
/// down: closing it again, or HDF5's own exit handler doing so, dereferences freed memory (the
/// segmentation fault after "could not write and close the file"). So the identifier is closed
/// exactly once, whatever H5Fclose returns, and the exit handler is turned off before HDF5 starts
/// (`HDF5Library.start`); every file VolSeg writes is closed explicitly or by `deinit`.
public final class HDF5File: HDF5Node {
    public enum Mode: Sendable {
        case readOnly, readWrite
        /// Creates the file, replacing any file at that path.
        case create
    }

    public let url: URL
    public let mode: Mode
    /// The path messages name: `url`, or the final name of a file written under a temporary one.
    public let reportedPath: String
    private var fileID: hid_t
    /// The errno of the system call behind the last failed HDF5 call (ENOSPC, EFBIG, ...), when HDF5 said.
    public private(set) var systemError: Int32?
    /// H5Fclose failed: the identifier must never be used again (see above).
    public private(set) var closeFailed = false

    public var file: HDF5File { self }
    public var path: String { "/" }
    public var locationID: hid_t { fileID }
    public var isOpen: Bool { fileID >= 0 }

    /// `reportingAs`: the path to name in errors, when `url` is a temporary name for it.
    public init(_ url: URL, mode: Mode = .readOnly, reportingAs reported: URL? = nil) throws {
        HDF5Library.start()
        vs_h5e_silence()
        self.url = url
        self.mode = mode
        self.reportedPath = (reported ?? url).path
        let access = H5Pcreate(vs_h5p_file_access())
        defer { H5Pclose(access) }
        H5Pset_fclose_degree(access, H5F_CLOSE_STRONG)
        switch mode {
        case .create:
            fileID = H5Fcreate(url.path, vs_h5f_acc_trunc(), vs_h5p_default(), access)
            if fileID < 0 {
                throw HDF5Error.failed(file: reportedPath, path: "", operation: "create the file (does its folder exist and is it writable?)")
            }
        case .readOnly, .readWrite:
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw HDF5Error.fileNotFound(file: url.path)
            }
            guard H5Fis_hdf5(url.path) > 0 else { throw HDF5Error.notHDF5(file: url.path) }
            let flags = mode == .readOnly ? vs_h5f_acc_rdonly() : vs_h5f_acc_rdwr()
            fileID = H5Fopen(url.path, flags, access)
            if fileID < 0 {
                throw HDF5Error.failed(file: reportedPath, path: "", operation: mode == .readOnly
                    ? "open the file for reading" : "open the file for writing (is it read-only?)")
            }
        }
    }

    /// Writes everything and closes the file (and any group still open in it). Safe to call twice:
    /// the identifier is closed once, also when H5Fclose fails.
    public func close() throws {
        guard fileID >= 0 else { return }
        vs_h5e_silence()
        let status = H5Fclose(fileID)
        fileID = -1
        if status < 0 {
            closeFailed = true
            noteSystemError()
            throw HDF5Error.failed(file: reportedPath, path: "", operation: "write and close the file")
        }
    }

    /// Records the errno behind the HDF5 call that just failed; call it before any other HDF5 call.
    func noteSystemError() {
        if let code = HDF5Library.systemErrorOnStack() { systemError = code }
    }

    deinit { try? close() }

    /// Writes a file that appears complete or not at all (`AtomicFile`): `body` fills a temporary
    /// file in the same folder, which is closed (H5Fclose's result checked), flushed to disk and
    /// renamed over `url` only when all of that succeeds. On any error the temporary file is deleted,
    /// an existing file at `url` is left as it was, and the error names `url`: a full disk reads
    /// "no space left on device writing URL".
    public static func writeAtomically(to url: URL, body: (HDF5File) throws -> Void) throws {
        try AtomicFile.write(to: url) { temporary in
            let file = try HDF5File(temporary, mode: .create, reportingAs: url)
            do {
                try body(file)
                try file.close()
            } catch {
                try? file.close()
                if let code = file.systemError, FileWriteError.isStorageFailure(code) {
                    throw FileWriteError.systemError(path: url.path, code: code, neededBytes: nil)
                }
                throw error
            }
            return nil
        }
    }

    /// How many HDF5 objects (the file included) are open in this file: tests use it to check that
    /// every handle is closed.
    var openObjectCount: Int {
        fileID < 0 ? 0 : Int(H5Fget_obj_count(fileID, vs_h5f_obj_all()))
    }
}
