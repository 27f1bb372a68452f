import Foundation
import VolSegCore

/// A region a region-based model predicts with its own sigmoid channel (BraTS: whole tumour, tumour
/// core, enhancing tumour), and the label value painted where it is predicted.
public struct SegmentationRegion: Equatable, Sendable {
    public let name: String
    /// The label values the region unites, sorted.
    public let labels: [Int]
    /// The value written where this region is predicted (and no later region is).
    public let paint: Int

    public init(name: String, labels: [Int], paint: Int) {
        self.name = name
        self.labels = labels.sorted()
        self.paint = paint
    }
}

/// What the network's output channels mean, and how probabilities become a label map.
///
/// - `labels`: softmax over the channels; channel c is the label value `labels[c]` (the dataset's
///   own values: BraTS 2021 is [0, 1, 2, 4], so channel 3 is written as 4). The label map is the
///   argmax.
/// - `regions`: one sigmoid per region; the label map starts at 0 and each region, in order,
///   paints its value where its probability exceeds 0.5. Nested regions in the order WT, TC, ET
///   paint edema, then necrosis, then enhancing tumour, as nnU-Net's `regions_class_order` does.
public enum SegmentationOutput: Equatable, Sendable {
    case labels([Int])
    case regions([SegmentationRegion])

    public var channelCount: Int {
        switch self {
        case .labels(let values): return values.count
        case .regions(let regions): return regions.count
        }
    }

    public var isRegionBased: Bool { if case .regions = self { return true } else { return false } }

    /// Every label value the map can hold.
    public var labelValues: [Int] {
        switch self {
        case .labels(let values): return values
        case .regions(let regions): return [0] + regions.map(\.paint)
        }
    }

    /// The largest label value: it sets the label map's NIfTI datatype (and so a planned write's size).
    public var largestLabel: Int { labelValues.max() ?? 0 }

    /// Logits [N, K, D, H, W] -> probabilities.
    public func activate(_ logits: Tensor) -> Tensor {
        isRegionBased ? logits.sigmoid() : logits.softmax(axis: 1)
    }

    /// Per-channel probability outside the nonzero crop box, where nothing was predicted: the
    /// background channel is certain there, every other channel (and every region) is 0.
    public var backgroundFill: [Float] {
        switch self {
        case .labels(let values): return values.map { $0 == 0 ? 1 : 0 }
        case .regions(let regions): return regions.map { _ in 0 }
        }
    }

    /// Probabilities [K, D, H, W] -> label values [1, D, H, W] (argmax, first maximum on ties, or
    /// regions painted in order).
    public func labelMap(_ probabilities: Tensor) -> Tensor {
        precondition(probabilities.rank == 4 && probabilities.shape[0] == channelCount,
                     "label map needs [\(channelCount), D, H, W] probabilities, got \(probabilities.shape)")
        let volume = probabilities.count / channelCount
        let out = Tensor.empty([1] + Array(probabilities.shape.suffix(3)), planned: probabilities.isPlanned)
        if probabilities.isPlanned { return out }
        let p = UnsafePointer(probabilities.data), dst = out.data, channels = channelCount
        switch self {
        case .labels(let values):
            let table = values.map(Float.init)
            Parallel.forEachChunk(volume, minimumChunk: 1 << 15) { range in
                for i in range {
                    var best = 0, bestValue = p[i]
                    for c in 1..<max(channels, 1) where p[c * volume + i] > bestValue {
                        best = c
                        bestValue = p[c * volume + i]
                    }
                    dst[i] = table[best]
                }
            }
        case .regions(let regions):
            let paints = regions.map { Float($0.paint) }
            Parallel.forEachChunk(volume, minimumChunk: 1 << 15) { range in
                for i in range {
                    var value: Float = 0
                    for c in 0..<channels where p[c * volume + i] > 0.5 { value = paints[c] }
                    dst[i] = value
                }
            }
        }
        return out
    }

    /// The same output with label values renamed (`mapping[old] = new`; values not in it stay).
    public func relabelled(_ mapping: [Int: Int]) -> SegmentationOutput {
        switch self {
        case .labels(let values):
            return .labels(values.map { mapping[$0] ?? $0 })
        case .regions(let regions):
            return .regions(regions.map {
                SegmentationRegion(name: $0.name, labels: $0.labels.map { mapping[$0] ?? $0 }, paint: mapping[$0.paint] ?? $0.paint)
            })
        }
    }
}
