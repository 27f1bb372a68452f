import Foundation
import VolSegCore

/// A preprocessed case ready for patch sampling: the normalised image, its labels as class
/// indices (0 background, then 1, 2, ... in the order of the label values), and where each class
/// lies, so foreground patches are found without scanning the volume.
public final class TrainingCase: @unchecked Sendable {
    public let id: String
    /// [C, D, H, W].
    public let image: Tensor
    /// [1, D, H, W] class indices 0..<classCount, stored as floats (the losses' target format).
    public let labels: Tensor
    /// For each class index, flat voxel indices of that class (at most `maxLocationsPerClass`,
    /// evenly thinned: nnU-Net also keeps a sample of 10,000 per class).
    public let classLocations: [[Int32]]
    /// Foreground class indices with at least one voxel.
    public let presentForegroundClasses: [Int]

    public static let maxLocationsPerClass = 10_000

    public init(id: String, image: Tensor, labels: Tensor, classCount: Int) {
        precondition(image.rank == 4 && labels.rank == 4 && labels.shape[0] == 1
                     && Array(image.shape.suffix(3)) == Array(labels.shape.suffix(3)),
                     "case \(id): image \(image.shape) and labels \(labels.shape) must be [C, D, H, W] and [1, D, H, W] on one grid")
        self.id = id
        self.image = image
        self.labels = labels
        let values = UnsafeBufferPointer(start: labels.data, count: labels.count)
        var counts = [Int](repeating: 0, count: classCount)
        for v in values {
            let c = Int(v)
            precondition(c >= 0 && c < classCount && Float(c) == v, "case \(id): label index \(v) outside 0..<\(classCount)")
            counts[c] += 1
        }
        // Even thinning: every k-th voxel of the class, so the sample spans the whole structure.
        let strides = counts.map { max(1, ($0 + Self.maxLocationsPerClass - 1) / Self.maxLocationsPerClass) }
        var locations = [[Int32]](repeating: [], count: classCount)
        var seen = [Int](repeating: 0, count: classCount)
        for c in 1..<classCount where counts[c] > 0 { locations[c].reserveCapacity(counts[c] / strides[c] + 1) }
        for (i, v) in values.enumerated() {
            let c = Int(v)
            if c == 0 { continue }
            if seen[c] % strides[c] == 0 { locations[c].append(Int32(i)) }
            seen[c] += 1
        }
        classLocations = locations
        presentForegroundClasses = (1..<max(classCount, 1)).filter { counts[$0] > 0 }
    }

    /// [D, H, W].
    public var spatialShape: [Int] { Array(image.shape.suffix(3)) }
    public var channelCount: Int { image.shape[0] }
    /// Bytes this case holds in memory (image and labels; the ledger counts both).
    public var byteCount: Int { image.byteCount + labels.byteCount + classLocations.reduce(0) { $0 + $1.count * 4 } }
}
