import CHDF5
import Foundation
import VolSegCore

/// An open HDF5 file; it is also its root group, so `file.tensor("conv3d_k3s1p1/x")` reads a
/// dataset by its full path (see `HDF5Node` for datasets, groups and attributes).
///
/// The file closes when `close()` is called or the last reference goes. Groups opened from it hold
/// a reference, so the file outlives them; `close()` closes them too (HDF5's "strong" close), so a
/// file written by `writeAtomically` is complete on disk before it is renamed.
public final class HDF5File: HDF5Node {
    public enum Mode: Sendable {
        case readOnly, readWrite
        /// Creates the file, replacing any file at that path.
        case create
    }

    public let url: URL
    public let mode: Mode
    private var fileID: hid_t

    public var file: HDF5File { self }
    public var path: String { "/" }
    public var locationID: hid_t { fileID }
    public var isOpen: Bool { fileID >= 0 }

    public init(_ url: URL, mode: Mode = .readOnly) throws {
        vs_h5e_silence()
        self.url = url
        self.mode = mode
        let access = H5Pcreate(vs_h5p_file_access())
        defer { H5Pclose(access) }
        H5Pset_fclose_degree(access, H5F_CLOSE_STRONG)
        switch mode {
        case .create:
            fileID = H5Fcreate(url.path, vs_h5f_acc_trunc(), vs_h5p_default(), access)
            if fileID < 0 {
                throw HDF5Error.failed(file: url.path, path: "", operation: "create the file (does its folder exist and is it writable?)")
            }
        case .readOnly, .readWrite:
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw HDF5Error.fileNotFound(file: url.path)
            }
            guard H5Fis_hdf5(url.path) > 0 else { throw HDF5Error.notHDF5(file: url.path) }
            let flags = mode == .readOnly ? vs_h5f_acc_rdonly() : vs_h5f_acc_rdwr()
            fileID = H5Fopen(url.path, flags, access)
            if fileID < 0 {
                throw HDF5Error.failed(file: url.path, path: "", operation: mode == .readOnly
                    ? "open the file for reading" : "open the file for writing (is it read-only?)")
            }
        }
    }

    /// Writes everything and closes the file (and any group still open in it). Safe to call twice.
    public func close() throws {
        guard fileID >= 0 else { return }
        vs_h5e_silence()
        let status = H5Fclose(fileID)
        fileID = -1
        if status < 0 { throw HDF5Error.failed(file: url.path, path: "", operation: "write and close the file") }
    }

    deinit { try? close() }

    /// Writes a file that appears complete or not at all: `body` fills a temporary file in the same
    /// folder, which is flushed to disk and renamed over `url` only when `body` succeeds. On any
    /// error the temporary file is deleted and an existing file at `url` is left as it was.
    public static func writeAtomically(to url: URL, body: (HDF5File) throws -> Void) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            let file = try HDF5File(temporary, mode: .create)
            do {
                try body(file)
                try file.close()
            } catch {
                try? file.close()
                throw error
            }
            // HDF5 does not fsync: without it a crash soon after the rename can leave a named but
            // empty file, the half checkpoint this function exists to prevent.
            let descriptor = open(temporary.path, O_RDONLY)
            if descriptor >= 0 { fsync(descriptor); Foundation.close(descriptor) }
            guard rename(temporary.path, url.path) == 0 else {
                let reason = String(cString: strerror(errno))
                throw HDF5Error.failed(file: url.path, path: "", operation: "replace the file (\(reason))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// How many HDF5 objects (the file included) are open in this file: tests use it to check that
    /// every handle is closed.
    var openObjectCount: Int {
        fileID < 0 ? 0 : Int(H5Fget_obj_count(fileID, vs_h5f_obj_all()))
    }
}
