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
/// segmentation fault after "could not write and close the file"), and later HDF5 calls can trip
/// over it. So checkpoints are built in memory (`writeAtomically`), the identifier is closed
/// exactly once whatever H5Fclose returns, and the exit handler is turned off before HDF5 starts
/// (`HDF5Library.start`); every file VolSeg writes is closed explicitly or by `deinit`.
public final class HDF5File: HDF5Node {
    public enum Mode: Sendable {
        case readOnly, readWrite
        /// Creates the file, replacing any file at that path.
        case create
        /// Builds a new file in memory only (HDF5's core driver without a backing store); `url`
        /// only names it, and `imageAndClose()` hands its bytes over. Nothing touches the disk.
        case createInMemory
    }

    public let url: URL
    public let mode: Mode
    /// The path messages name: `url`, or the final name of a file written under a temporary one.
    public let reportedPath: String
    private var fileID: hid_t
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
        case .create, .createInMemory:
            // Grown 16 MiB at a time (glibc's realloc of large blocks remaps pages, copies nothing).
            if mode == .createInMemory { H5Pset_fapl_core(access, 16 << 20, false) }
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
            throw HDF5Error.failed(file: reportedPath, path: "", operation: "write and close the file")
        }
    }

    /// The bytes of a `.createInMemory` file, which is then closed.
    public func imageAndClose() throws -> Data {
        vs_h5e_silence()
        guard isOpen else { throw HDF5Error.closed(file: reportedPath) }
        guard H5Fflush(fileID, H5F_SCOPE_LOCAL) >= 0 else {
            throw HDF5Error.failed(file: reportedPath, path: "", operation: "finish the file in memory")
        }
        let size = H5Fget_file_image(fileID, nil, 0)
        var image = Data(count: max(size, 0))
        let copied = image.withUnsafeMutableBytes { H5Fget_file_image(fileID, $0.baseAddress, $0.count) }
        guard size > 0, copied == size else {
            throw HDF5Error.failed(file: reportedPath, path: "", operation: "take the file's image from memory")
        }
        try close()
        return image
    }

    deinit { try? close() }

    /// Writes a file that appears complete or not at all: `body` fills the file in memory, whose
    /// bytes `AtomicFile` then writes (temporary file, fsync, size check, rename). HDF5 itself never
    /// writes to the disk here, so a full disk fails a write(2) with its errno ("no space left on
    /// device writing URL (needed N bytes)") instead of an H5Fclose that leaves HDF5 in a state
    /// that crashes later. The price is the file's size twice in memory while it is handed over,
    /// less than the activations of one training step for the U-Nets VolSeg trains. On any error
    /// nothing is left on disk and an existing file at `url` is left as it was.
    public static func writeAtomically(to url: URL, body: (HDF5File) throws -> Void) throws {
        try AtomicFile.checkFolder(of: url)
        // A fresh name for the in-memory file: HDF5 refuses to create a file it thinks is open.
        let file = try HDF5File(AtomicFile.temporaryURL(for: url), mode: .createInMemory, reportingAs: url)
        let image: Data
        do {
            try body(file)
            image = try file.imageAndClose()
        } catch {
            try? file.close()
            throw error
        }
        try AtomicFile.write(image, to: url)
    }

    /// How many HDF5 objects (the file included) are open in this file: tests use it to check that
    /// every handle is closed.
    var openObjectCount: Int {
        fileID < 0 ? 0 : Int(H5Fget_obj_count(fileID, vs_h5f_obj_all()))
    }
}
