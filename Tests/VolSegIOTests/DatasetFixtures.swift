import Foundation
@testable import VolSegCore
@testable import VolSegIO

/// Builds tiny dataset folders (4x5x6 volumes) for the layout tests, each channel file filled with
/// its own constant so that the channel order can be checked after loading.
struct DatasetFixtures {
    let root: URL

    init() throws { root = try NIfTITestFiles.temporaryFolder() }

    func remove() { try? FileManager.default.removeItem(at: root) }

    func header(shape: [Int]) throws -> NIfTIHeader {
        let url = root.appendingPathComponent(".template-\(shape.map(String.init).joined(separator: "x")).nii")
        try NIfTITestFiles.make(dim: [3] + shape.map(Int16.init) + [1, 1, 1, 1], datatype: 2, bitpix: 8,
                                dataBytes: shape.reduce(1, *), at: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try NIfTIReader.readHeader(url)
    }

    /// A float file of `channels` volumes, volume c filled with `value + c`.
    @discardableResult
    func volume(_ relative: String, value: Float, shape: [Int] = [4, 5, 6], channels: Int = 1) throws -> URL {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let n = shape.reduce(1, *)
        let values = (0..<channels).flatMap { c in [Float](repeating: value + Float(c), count: n) }
        try NIfTIWriter.writeFloatMap(Tensor(shape: [channels, shape[2], shape[1], shape[0]], values: values),
                                      like: header(shape: shape), to: url)
        return url
    }

    /// A label file (uint8) of zeros with one voxel set to `label`.
    func labels(_ relative: String, label: Float, shape: [Int] = [4, 5, 6]) throws {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let t = Tensor.zeros([1, shape[2], shape[1], shape[0]])
        t[0, 1, 1, 1] = label
        try NIfTIWriter.writeLabelMap(t, like: header(shape: shape), to: url)
    }

    func text(_ relative: String, _ content: String) throws {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: url)
    }
}
