import CHDF5
import Foundation

/// Attributes on the file root (`of: "."`), a group or a dataset: strings (h5py writes `str` as
/// variable-length UTF-8; fixed-length strings are read too), int64 and float64 scalars and arrays.
/// Writing replaces an attribute of the same name.
extension HDF5Node {
    public func attributeNames(of path: String = ".") throws -> [String] {
        let object = try openObject(path, as: H5I_BADID, what: "object")
        defer { H5Oclose(object) }
        let names = NameList()
        var start: hsize_t = 0
        let status = H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &start, { _, name, _, context in
            let names = Unmanaged<NameList>.fromOpaque(context!).takeUnretainedValue()
            names.list.append(String(cString: name!))
            return 0
        }, Unmanaged.passUnretained(names).toOpaque())
        guard status >= 0 else { throw failure("list the attributes of", path) }
        return names.list
    }

    public func hasAttribute(_ name: String, of path: String = ".") -> Bool {
        guard let object = try? openObject(path, as: H5I_BADID, what: "object") else { return false }
        defer { H5Oclose(object) }
        return H5Aexists(object, name) > 0
    }

    // MARK: reading

    public func stringAttribute(_ name: String, of path: String = ".") throws -> String {
        let (attribute, storedType, count) = try openAttribute(name, of: path, expected: "a string", accepting: [H5T_STRING])
        defer { H5Aclose(attribute); H5Tclose(storedType) }
        guard count == 1 else { throw wrongCount(name, path, "a single string", count) }
        let memoryType = H5Tcopy(vs_h5t_c_s1())
        defer { H5Tclose(memoryType) }
        H5Tset_cset(memoryType, H5Tget_cset(storedType))
        if H5Tis_variable_str(storedType) > 0 {
            H5Tset_size(memoryType, vs_h5t_variable())
            var pointer: UnsafeMutablePointer<CChar>? = nil
            // The variable-length read is where libhdf5 loops on a corrupt global heap: guarded.
            let status = LibraryStallWatchdog.guarding("reading attribute \"\(name)\" of \(file.reportedPath)") {
                H5Aread(attribute, memoryType, &pointer)
            }
            guard status >= 0 else { throw failure("read attribute \"\(name)\" of", path) }
            defer { H5free_memory(pointer) }
            return pointer.map { String(cString: $0) } ?? ""
        }
        // Fixed length: read the padded bytes and cut at the first NUL (or trailing spaces).
        let size = H5Tget_size(storedType)
        H5Tset_size(memoryType, size)
        H5Tset_strpad(memoryType, H5Tget_strpad(storedType))
        var bytes = [UInt8](repeating: 0, count: size)
        guard H5Aread(attribute, memoryType, &bytes) >= 0 else { throw failure("read attribute \"\(name)\" of", path) }
        var text = bytes.prefix { $0 != 0 }[...]
        if H5Tget_strpad(storedType) == H5T_STR_SPACEPAD { while text.last == 0x20 { text.removeLast() } }
        return String(decoding: text, as: UTF8.self)
    }

    public func int64ArrayAttribute(_ name: String, of path: String = ".") throws -> [Int64] {
        try numericAttribute(name, of: path, expected: "int64", accepting: [H5T_INTEGER], memoryType: vs_h5t_native_int64())
    }

    /// A float64 attribute (float32 and integer attributes are converted).
    public func float64ArrayAttribute(_ name: String, of path: String = ".") throws -> [Double] {
        try numericAttribute(name, of: path, expected: "float64", accepting: [H5T_FLOAT, H5T_INTEGER],
                             memoryType: vs_h5t_native_double())
    }

    public func int64Attribute(_ name: String, of path: String = ".") throws -> Int64 {
        let values = try int64ArrayAttribute(name, of: path)
        guard values.count == 1 else { throw wrongCount(name, path, "a single int64", values.count) }
        return values[0]
    }

    public func float64Attribute(_ name: String, of path: String = ".") throws -> Double {
        let values = try float64ArrayAttribute(name, of: path)
        guard values.count == 1 else { throw wrongCount(name, path, "a single float64", values.count) }
        return values[0]
    }

    // MARK: writing (scalars get a scalar dataspace, as h5py gives them)

    /// Writes a variable-length UTF-8 string, as h5py does for `str`.
    public func setAttribute(_ name: String, _ value: String, of path: String = ".") throws {
        let type = H5Tcopy(vs_h5t_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, vs_h5t_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        try value.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            try writeAttribute(name, of: path, type: type, count: nil, values: &pointer)
        }
    }

    public func setAttribute(_ name: String, _ value: Int64, of path: String = ".") throws {
        var value = value
        try writeAttribute(name, of: path, type: vs_h5t_native_int64(), count: nil, values: &value)
    }

    public func setAttribute(_ name: String, _ values: [Int64], of path: String = ".") throws {
        try values.withUnsafeBytes {
            try writeAttribute(name, of: path, type: vs_h5t_native_int64(), count: values.count, values: $0.baseAddress)
        }
    }

    public func setAttribute(_ name: String, _ value: Double, of path: String = ".") throws {
        var value = value
        try writeAttribute(name, of: path, type: vs_h5t_native_double(), count: nil, values: &value)
    }

    public func setAttribute(_ name: String, _ values: [Double], of path: String = ".") throws {
        try values.withUnsafeBytes {
            try writeAttribute(name, of: path, type: vs_h5t_native_double(), count: values.count, values: $0.baseAddress)
        }
    }

    // MARK: implementation

    private func attributeLabel(_ name: String, _ path: String) -> String {
        "\(absolutePath(path)) attribute \"\(name)\""
    }

    private func wrongCount(_ name: String, _ path: String, _ expected: String, _ count: Int) -> HDF5Error {
        .wrongType(file: file.reportedPath, path: attributeLabel(name, path), expected: expected, found: "\(count) values")
    }

    /// The open attribute, its stored type (both for the caller to close) and its element count.
    private func openAttribute(_ name: String, of path: String, expected: String,
                               accepting classes: [H5T_class_t]) throws -> (hid_t, hid_t, Int) {
        let object = try openObject(path, as: H5I_BADID, what: "object")
        defer { H5Oclose(object) }
        guard H5Aexists(object, name) > 0 else {
            throw HDF5Error.missing(file: file.reportedPath, path: absolutePath(path), what: "attribute \"\(name)\"")
        }
        let attribute = H5Aopen(object, name, vs_h5p_default())
        guard attribute >= 0 else { throw failure("open attribute \"\(name)\" of", path) }
        let storedType = H5Aget_type(attribute)
        guard classes.contains(H5Tget_class(storedType)) else {
            defer { H5Aclose(attribute); H5Tclose(storedType) }
            throw HDF5Error.wrongType(file: file.reportedPath, path: attributeLabel(name, path), expected: expected,
                                      found: HDF5Library.describe(storedType))
        }
        let space = H5Aget_space(attribute)
        defer { H5Sclose(space) }
        return (attribute, storedType, Int(H5Sget_simple_extent_npoints(space)))
    }

    private func numericAttribute<Element>(_ name: String, of path: String, expected: String,
                                           accepting classes: [H5T_class_t], memoryType: hid_t) throws -> [Element] {
        let (attribute, storedType, count) = try openAttribute(name, of: path, expected: expected, accepting: classes)
        defer { H5Aclose(attribute); H5Tclose(storedType) }
        return try [Element](unsafeUninitializedCapacity: count) { buffer, initialised in
            if let start = buffer.baseAddress, count > 0, H5Aread(attribute, memoryType, start) < 0 {
                throw failure("read attribute \"\(name)\" of", path)
            }
            initialised = count
        }
    }

    /// `count` nil writes a scalar; otherwise a one-dimensional array of `count` values.
    private func writeAttribute(_ name: String, of path: String, type: hid_t, count: Int?,
                                values: UnsafeRawPointer?) throws {
        let object = try openObject(path, as: H5I_BADID, what: "object")
        defer { H5Oclose(object) }
        if H5Aexists(object, name) > 0, H5Adelete(object, name) < 0 {
            throw failure("replace attribute \"\(name)\" of", path)
        }
        let space = count.map { H5Screate_simple(1, [hsize_t($0)], nil) } ?? H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(object, name, type, space, vs_h5p_default(), vs_h5p_default())
        guard attribute >= 0 else { throw failure("create attribute \"\(name)\" of", path) }
        defer { H5Aclose(attribute) }
        guard let values, count ?? 1 > 0 else { return }
        guard H5Awrite(attribute, type, values) >= 0 else { throw failure("write attribute \"\(name)\" of", path) }
    }
}

/// Collects names from HDF5's C iteration callback, which can only reach Swift through a pointer.
private final class NameList { var list: [String] = [] }
