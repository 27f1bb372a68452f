import CHDF5
import Foundation
import VolSegCore

/// Reading and writing whole datasets as row-major arrays with their shape (HDF5's order is C
/// order, the same as PyTorch's and `Tensor`'s, so values go across unchanged).
extension HDF5Node {
    /// The dataset's shape ([] for a scalar).
    public func shape(_ path: String) throws -> [Int] {
        let dataset = try openObject(path, as: H5I_DATASET, what: "dataset")
        defer { H5Oclose(dataset) }
        return try shape(ofDataset: dataset, path)
    }

    /// A numeric dataset of any rank as a Float32 tensor of that shape; float64 and integer
    /// datasets are converted by HDF5.
    public func tensor(_ path: String) throws -> Tensor {
        try readDataset(path, expected: "float32", accepting: [H5T_FLOAT, H5T_INTEGER],
                        memoryType: vs_h5t_native_float()) { shape, read in
            let tensor = Tensor.empty(shape)
            try read(tensor.data)
            return tensor
        }
    }

    public func int64Values(_ path: String) throws -> (values: [Int64], shape: [Int]) {
        try readArray(path, expected: "int64", accepting: [H5T_INTEGER], memoryType: vs_h5t_native_int64())
    }

    /// A float64 (or float32 or integer, converted) dataset.
    public func float64Values(_ path: String) throws -> (values: [Double], shape: [Int]) {
        try readArray(path, expected: "float64", accepting: [H5T_FLOAT, H5T_INTEGER],
                      memoryType: vs_h5t_native_double())
    }

    /// Writes `tensor` as a float32 dataset of the same shape, creating missing parent groups and
    /// replacing a dataset already at `path`.
    public func write(_ tensor: Tensor, to path: String) throws {
        try writeDataset(UnsafeRawPointer(tensor.data), shape: tensor.shape,
                         type: vs_h5t_native_float(), to: path)
    }

    /// Writes an int64 dataset; `shape` defaults to one dimension of `values.count`.
    public func write(_ values: [Int64], shape: [Int]? = nil, to path: String) throws {
        try values.withUnsafeBytes {
            try writeDataset($0.baseAddress, shape: shape ?? [values.count], count: values.count,
                             type: vs_h5t_native_int64(), to: path)
        }
    }

    /// Writes a float64 dataset; `shape` defaults to one dimension of `values.count`.
    public func write(_ values: [Double], shape: [Int]? = nil, to path: String) throws {
        try values.withUnsafeBytes {
            try writeDataset($0.baseAddress, shape: shape ?? [values.count], count: values.count,
                             type: vs_h5t_native_double(), to: path)
        }
    }

    // MARK: implementation

    private func shape(ofDataset dataset: hid_t, _ path: String) throws -> [Int] {
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { throw failure("read the shape of", path) }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        H5Sget_simple_extent_dims(space, &dims, nil)
        return dims.map { Int($0) }
    }

    private func readArray<Element>(_ path: String, expected: String, accepting classes: [H5T_class_t],
                                    memoryType: hid_t) throws -> (values: [Element], shape: [Int]) {
        try readDataset(path, expected: expected, accepting: classes, memoryType: memoryType) { shape, read in
            let count = shape.reduce(1, *)
            let values = try [Element](unsafeUninitializedCapacity: count) { buffer, initialised in
                if let start = buffer.baseAddress, count > 0 { try read(UnsafeMutableRawPointer(start)) }
                initialised = count
            }
            return (values, shape)
        }
    }

    /// Opens the dataset, checks its stored type class, and hands `fill` the shape and a function
    /// that reads every value into a buffer as `memoryType`.
    private func readDataset<Result>(_ path: String, expected: String, accepting classes: [H5T_class_t],
                                     memoryType: hid_t,
                                     fill: ([Int], (UnsafeMutableRawPointer) throws -> Void) throws -> Result) throws -> Result {
        let dataset = try openObject(path, as: H5I_DATASET, what: "dataset")
        defer { H5Oclose(dataset) }
        let storedType = H5Dget_type(dataset)
        defer { H5Tclose(storedType) }
        guard classes.contains(H5Tget_class(storedType)) else {
            throw HDF5Error.wrongType(file: file.reportedPath, path: absolutePath(path), expected: expected,
                                      found: HDF5Library.describe(storedType))
        }
        let shape = try shape(ofDataset: dataset, path)
        return try fill(shape) { buffer in
            guard H5Dread(dataset, memoryType, vs_h5s_all(), vs_h5s_all(), vs_h5p_default(), buffer) >= 0 else {
                throw failure("read the dataset", path)
            }
        }
    }

    private func writeDataset(_ values: UnsafeRawPointer?, shape: [Int], count: Int? = nil,
                              type: hid_t, to path: String) throws {
        vs_h5e_silence()
        guard file.isOpen else { throw HDF5Error.closed(file: file.reportedPath) }
        if let count, count != shape.reduce(1, *) {
            preconditionFailure("\(count) values do not fill shape \(shape) for \(absolutePath(path))")
        }
        if contains(path), H5Ldelete(locationID, path, vs_h5p_default()) < 0 {
            throw failure("replace the dataset", path)
        }
        let dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
        defer { H5Sclose(space) }
        let dataset = H5Dcreate2(locationID, path, type, space, HDF5Library.intermediateGroups,
                                 vs_h5p_default(), vs_h5p_default())
        guard dataset >= 0 else { throw failure("create the dataset", path) }
        defer { H5Dclose(dataset) }
        guard let values, shape.reduce(1, *) > 0 else { return }  // an empty array has no buffer
        guard H5Dwrite(dataset, type, vs_h5s_all(), vs_h5s_all(), vs_h5p_default(), values) >= 0 else {
            throw failure("write the dataset", path)
        }
    }
}
