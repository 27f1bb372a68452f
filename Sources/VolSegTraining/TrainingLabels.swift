import Foundation
import VolSegCore
import VolSegInference
import VolSegIO

/// How a dataset's label values become what the network predicts: class indices 0, 1, 2, ... in
/// the order of the label values (BraTS 0, 1, 2, 4 -> 0, 1, 2, 3), and, for region training, which
/// classes make up each region. Validation reports Dice per region when the convention names
/// regions (BraTS WT/TC/ET, LiTS liver/tumour), per foreground label otherwise.
public struct TrainingLabels: Equatable, Sendable {
    public let convention: LabelConvention
    public let target: TrainingTarget
    /// Label values in class-index order, background (0) first.
    public let classValues: [Int]

    public init(convention: LabelConvention, target: TrainingTarget) throws {
        self.convention = convention
        self.target = target
        classValues = convention.labels.keys.sorted()
        guard classValues.first == 0, classValues.count >= 2 else {
            throw TrainingSetupError.conventionWithoutForeground(convention: convention.name, classValues: classValues)
        }
        if target == .regions && convention.regions.isEmpty {
            throw TrainingSetupError.conventionWithoutRegions(convention: convention.name)
        }
    }

    public var classCount: Int { classValues.count }

    /// Channels the network must output: one per class (softmax) or one per region (sigmoid).
    public var outputChannels: Int { target == .labels ? classCount : convention.regions.count }

    /// What the network's channels mean for the segmenter: softmax over the label values, or a
    /// sigmoid per region with the paints `ModelBundleConfig` derives.
    public var segmentationOutput: SegmentationOutput {
        ModelBundleConfig.output(for: convention, regionBased: target == .regions)
    }

    /// membership[r][c]: class index c is in region r.
    public var regionMembership: [[Bool]] {
        convention.regions.map { region in classValues.map { region.labels.contains($0) } }
    }

    /// What validation reports: a name and the class indices it covers.
    public var reportedStructures: [(name: String, classes: Set<Int>)] {
        if !convention.regions.isEmpty {
            return convention.regions.map { region in
                (region.name, Set(classValues.indices.filter { region.labels.contains(classValues[$0]) }))
            }
        }
        return (1..<classCount).map { index in
            let name = convention.labels[classValues[index]] ?? "label\(classValues[index])"
            return (name.replacingOccurrences(of: " ", with: "_"), [index])
        }
    }

    /// What validation reports, in label values (the structures of `reportedStructures`, same
    /// names and order): what `volseg evaluate` scores on a label map.
    public var reportedLabelValues: [(name: String, labels: Set<Int>)] {
        reportedStructures.map { structure in (structure.name, Set(structure.classes.map { classValues[$0] })) }
    }

    /// Label values -> class indices, in place on a copy; a value outside the convention is an
    /// error naming the file and the value.
    public func classIndices(_ labels: Tensor, file: String) throws -> Tensor {
        let maxValue = classValues.max()!
        var lookup = [Float](repeating: -1, count: maxValue + 1)
        for (index, value) in classValues.enumerated() { lookup[value] = Float(index) }
        let out = Tensor.empty(labels.shape)
        let src = labels.data, dst = out.data
        for i in 0..<labels.count {
            let v = src[i]
            let n = Int(v.rounded())
            guard v == Float(n), n >= 0, n <= maxValue, lookup[n] >= 0 else {
                throw TrainingSetupError.labelValueOutsideConvention(file: file, value: v, convention: convention.name, labels: classValues)
            }
            dst[i] = lookup[n]
        }
        return out
    }

    /// Class indices -> label values (for writing predictions).
    public func labelValues(_ classes: Tensor) -> Tensor {
        let values = classValues.map(Float.init)
        return classes.map { values[min(max(Int($0), 0), values.count - 1)] }
    }
}
