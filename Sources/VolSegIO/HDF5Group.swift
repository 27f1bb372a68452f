import CHDF5
import Foundation

/// Something that holds datasets, groups and attributes: a file (its root group) or a group.
///
/// Paths are relative to the node, "/" is the only separator (names may contain dots:
/// "weights/conv_blocks_context.0.0.conv1.weight"), and "." is the node itself. The methods live in
/// extensions: navigation here, datasets in HDF5Dataset.swift, attributes in HDF5Attribute.swift.
public protocol HDF5Node: AnyObject {
    /// The file this node lives in; a group keeps it open.
    var file: HDF5File { get }
    /// The node's absolute path inside the file, "/" for the root.
    var path: String { get }
    /// The open HDF5 identifier that relative paths start from.
    var locationID: hid_t { get }
}

/// An open group. It closes when the last reference goes (or when its file is closed).
public final class HDF5Group: HDF5Node {
    public let file: HDF5File
    public let path: String
    public let locationID: hid_t

    init(file: HDF5File, path: String, id: hid_t) {
        self.file = file
        self.path = path
        self.locationID = id
    }

    deinit {
        // After a strong close of the file the identifier is already gone; after a failed one the
        // file's state is torn down and must not be touched.
        if !file.closeFailed && H5Iis_valid(locationID) > 0 { H5Gclose(locationID) }
    }
}

extension HDF5Node {
    // MARK: navigation

    /// Whether a dataset or group exists at `path`.
    public func contains(_ path: String) -> Bool {
        vs_h5e_silence()
        guard file.isOpen else { return false }
        if path == "." || path == "/" { return true }
        // H5Lexists needs every parent to exist, so walk the path one name at a time.
        var prefix = path.hasPrefix("/") ? "/" : ""
        for name in path.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix == "/" ? "" : "/") + name
            if H5Lexists(locationID, prefix, vs_h5p_default()) <= 0 { return false }
        }
        return H5Oexists_by_name(locationID, path, vs_h5p_default()) > 0
    }

    public func isGroup(_ path: String) -> Bool { objectType(path) == H5I_GROUP }
    public func isDataset(_ path: String) -> Bool { objectType(path) == H5I_DATASET }

    /// The names of the group's members (datasets and groups), in name order.
    public func memberNames(of path: String = ".") throws -> [String] {
        let groupID = try openObject(path, as: H5I_GROUP, what: "group")
        defer { H5Oclose(groupID) }
        var info = H5G_info_t()
        guard H5Gget_info(groupID, &info) >= 0 else { throw failure("list the members of", path) }
        return try (0..<info.nlinks).map { index in
            let length = H5Lget_name_by_idx(groupID, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, vs_h5p_default())
            guard length >= 0 else { throw failure("list the members of", path) }
            var buffer = [CChar](repeating: 0, count: length + 1)
            H5Lget_name_by_idx(groupID, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, length + 1, vs_h5p_default())
            return String(cString: buffer)
        }
    }

    /// Opens an existing group.
    public func group(_ path: String) throws -> HDF5Group {
        let id = try openObject(path, as: H5I_GROUP, what: "group")
        return HDF5Group(file: file, path: absolutePath(path), id: id)
    }

    /// Opens the group at `path`, creating it and any missing parents first.
    @discardableResult
    public func createGroup(_ path: String) throws -> HDF5Group {
        if contains(path) { return try group(path) }
        let id = H5Gcreate2(locationID, path, HDF5Library.intermediateGroups, vs_h5p_default(), vs_h5p_default())
        guard id >= 0 else { throw failure("create the group", path) }
        return HDF5Group(file: file, path: absolutePath(path), id: id)
    }

    // MARK: shared helpers

    /// The absolute path of `relative`, for messages and for groups opened from this node.
    func absolutePath(_ relative: String) -> String {
        if relative.hasPrefix("/") { return relative }
        if relative == "." || relative.isEmpty { return path }
        return (path == "/" ? "" : path) + "/" + relative
    }

    func failure(_ operation: String, _ relative: String) -> HDF5Error {
        .failed(file: file.reportedPath, path: absolutePath(relative), operation: operation)
    }

    /// Opens the object at `path` (the caller closes it with H5Oclose), checking that it exists and
    /// is of the expected kind, so that the error says which of the two went wrong.
    func openObject(_ path: String, as kind: H5I_type_t, what: String) throws -> hid_t {
        vs_h5e_silence()
        guard file.isOpen else { throw HDF5Error.closed(file: file.reportedPath) }
        guard contains(path) else {
            throw HDF5Error.missing(file: file.reportedPath, path: absolutePath(path), what: what)
        }
        let id = H5Oopen(locationID, path, vs_h5p_default())
        guard id >= 0 else { throw failure("open", path) }
        let found = H5Iget_type(id)
        if found != kind && kind != H5I_BADID {
            H5Oclose(id)
            throw HDF5Error.wrongType(file: file.reportedPath, path: absolutePath(path),
                                      expected: "a \(what)", found: found == H5I_GROUP ? "a group" : "a dataset")
        }
        return id
    }

    private func objectType(_ path: String) -> H5I_type_t {
        guard let id = try? openObject(path, as: H5I_BADID, what: "object") else { return H5I_BADID }
        defer { H5Oclose(id) }
        return H5Iget_type(id)
    }
}

/// Property lists made once and shared: HDF5 copies them into each object it creates.
enum HDF5Library {
    /// Turns off HDF5's exit handler before the library starts: after a failed H5Fclose it would
    /// close the file a second time and crash (see `HDF5File`). Called before any other HDF5 call.
    static func start() { _ = started }
    private static let started: Void = { H5dont_atexit() }()

    /// Link creation that makes missing parent groups, as `mkdir -p` does.
    static let intermediateGroups: hid_t = {
        let list = H5Pcreate(vs_h5p_link_create())
        H5Pset_create_intermediate_group(list, 1)
        return list
    }()

    /// A short name for a stored type, for wrong-type messages: "float32", "int64", "a string".
    static func describe(_ type: hid_t) -> String {
        let bits = H5Tget_size(type) * 8
        switch H5Tget_class(type) {
        case H5T_FLOAT: return "float\(bits)"
        case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + "\(bits)"
        case H5T_STRING: return "a string"
        case let other: return "an unsupported type (HDF5 class \(other.rawValue))"
        }
    }
}
