import Foundation
import VolSegCore
import VolSegIO

/// A case as the viewer shows it: the image channels and the label maps (reference, prediction)
/// in canonical RAS, sampled down to at most `maximumSize` voxels along each axis (every s-th voxel,
/// at the centre of its block, so labels keep their values), the image quantised to 8 bits over a
/// range that holds every CT window preset (-1024 to 1500 HU) or an MRI's 0.1-99.9 percentiles,
/// each array zlib-compressed and base64-encoded for the page to inflate.
public struct ViewerVolume {
    public struct Channel {
        public let name: String
        public let low: Double, high: Double
        public let bytes: [UInt8]
    }

    public struct Layer {
        public let name: String
        public let values: [UInt16]
    }

    /// The viewer grid (x, y, z) and its voxel size (mm).
    public let shape: [Int]
    public let spacing: [Double]
    /// The viewer grid's voxel -> world (RAS, mm).
    public let affine: NIfTIAffine
    public let isCT: Bool
    public let channels: [Channel]
    public let layers: [Layer]

    public static let defaultMaximumSize = 112

    /// Whether channels of these modality names are CT (windowed in HU, not by percentiles).
    public static func isCT(channelNames: [String]) -> Bool {
        channelNames.contains { $0.uppercased().contains("CT") }
    }

    /// `image` ([C, D, H, W], channel names `channelNames`) and the label maps share one grid,
    /// `header`'s; a label map on another grid is an error naming it.
    public init(header: NIfTIHeader, image: Tensor?, channelNames: [String], isCT: Bool,
                layers named: [(name: String, labels: NIfTIVolume)], maximumSize: Int = defaultMaximumSize) throws {
        let orientation = CanonicalOrientation(header: header)
        let canonical = orientation.canonicalShape   // (x, y, z)
        let stride = canonical.map { max(1, Int((Double($0) / Double(maximumSize)).rounded(.up))) }
        let offset = stride.map { $0 / 2 }
        let shape: [Int] = (0..<3).map { axis -> Int in
            let covered: Int = canonical[axis] - offset[axis] + stride[axis] - 1
            return covered / stride[axis]
        }
        func sample(_ tensor: Tensor) -> (Int) -> Float {
            let volume = orientation.toCanonical(tensor)
            return { i in
                let x: Int = i % shape[0], y: Int = (i / shape[0]) % shape[1], z: Int = i / (shape[0] * shape[1])
                let sx: Int = x * stride[0] + offset[0], sy: Int = y * stride[1] + offset[1], sz: Int = z * stride[2] + offset[2]
                return volume.data[(sz * canonical[1] + sy) * canonical[0] + sx]
            }
        }
        let count = shape.reduce(1, *)
        var channels: [Channel] = []
        if let image {
            let volume = canonical.reduce(1, *)
            for (c, name) in channelNames.enumerated() {
                let single = Tensor.empty([1] + Array(image.shape.suffix(3)))
                single.data.update(from: image.data + c * volume, count: volume)
                let read = sample(single)
                let values = (0..<count).map(read)
                let (low, high) = isCT ? (-1024.0, 1500.0) : Self.percentiles(values)
                let bytes = values.map { v -> UInt8 in
                    guard v.isFinite, high > low else { return 0 }
                    return UInt8(max(0, min(255, ((Double(v) - low) / (high - low) * 255).rounded())))
                }
                channels.append(Channel(name: name, low: low, high: high, bytes: bytes))
            }
        }
        var layers: [Layer] = []
        for (name, labels) in named {
            guard labels.header.spatialShape == header.spatialShape else {
                throw NIfTIError.shapeMismatch(path: labels.path, shape: labels.header.spatialShape, expected: header.spatialShape,
                                               reference: "the image shown with it")
            }
            let read = sample(labels.voxels)
            layers.append(Layer(name: name, values: (0..<count).map { UInt16(max(0, min(65535, read($0).rounded()))) }))
        }
        var affine = orientation.canonicalAffine
        for r in 0..<3 {
            let origin = (0..<3).reduce(affine[r, 3]) { $0 + affine[r, $1] * Double(offset[$1]) }
            for c in 0..<3 { affine[r, c] *= Double(stride[c]) }
            affine[r, 3] = origin
        }
        self.shape = shape
        self.spacing = affine.voxelSizes
        self.affine = affine
        self.isCT = isCT
        self.channels = channels
        self.layers = layers
    }

    /// The 0.1 and 99.9 percentiles of the finite values: an MRI's range without its outliers.
    static func percentiles(_ values: [Float]) -> (Double, Double) {
        let sorted = values.filter(\.isFinite).sorted()
        guard let first = sorted.first else { return (0, 1) }
        let low = Double(sorted[Int(Double(sorted.count - 1) * 0.001)]), high = Double(sorted[Int(Double(sorted.count - 1) * 0.999)])
        return high > low ? (low, high) : (Double(first), Double(first) + 1)
    }

    /// The viewer's payload for case `id` (see viewer.js `decode`).
    public func payload(id: String) throws -> [String: Any] {
        func encoded(_ bytes: [UInt8]) throws -> String { Data(try PNGWriter.deflate(bytes)).base64EncodedString() }
        let wide = layers.contains { $0.values.contains { $0 > 255 } }
        return [
            "id": id, "shape": shape, "spacing": spacing, "ct": isCT,
            "affine": (0..<3).map { r in (0..<4).map { affine[r, $0] } },
            "channels": try channels.map { ["name": $0.name, "low": $0.low, "high": $0.high, "data": try encoded($0.bytes)] as [String: Any] },
            "layers": try layers.map { layer -> [String: Any] in
                let bytes = wide ? layer.values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } : layer.values.map { UInt8($0) }
                return ["name": layer.name, "wide": wide, "data": try encoded(bytes)]
            },
        ]
    }
}
