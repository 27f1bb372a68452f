import Foundation

/// What the label values of a dataset mean, and the named regions (unions of labels) that
/// training and evaluation use: BraTS whole tumour / tumour core / enhancing tumour, LiTS liver.
public struct LabelConvention: Equatable, Sendable {
    /// Short name: brats2021, brats2023, msd-brain, lits, or the dataset's own for MSD/nnU-Net.
    public let name: String
    /// Label value -> meaning, background (0) included.
    public let labels: [Int: String]
    /// Region name -> label values, in a fixed order.
    public let regions: [(name: String, labels: Set<Int>)]

    public init(name: String, labels: [Int: String], regions: [(name: String, labels: Set<Int>)]) {
        self.name = name
        self.labels = labels
        self.regions = regions
    }

    public static func == (a: LabelConvention, b: LabelConvention) -> Bool {
        a.name == b.name && a.labels == b.labels && a.regions.map(\.name) == b.regions.map(\.name)
            && zip(a.regions, b.regions).allSatisfy { $0.labels == $1.labels }
    }

    /// The label values of a region ("WT", "TC", "ET", "liver", "tumour"), or nil.
    public func region(_ name: String) -> Set<Int>? {
        regions.first { $0.name.lowercased() == name.lowercased() }?.labels
    }

    /// BraTS 2020/2021: 1 necrotic core, 2 oedema, 4 enhancing tumour.
    public static let brats2021 = LabelConvention(
        name: "brats2021",
        labels: [0: "background", 1: "necrotic tumour core", 2: "peritumoral edema", 4: "enhancing tumour"],
        regions: [("WT", [1, 2, 4]), ("TC", [1, 4]), ("ET", [4])])

    /// BraTS 2023: the same classes, enhancing tumour became 3.
    public static let brats2023 = LabelConvention(
        name: "brats2023",
        labels: [0: "background", 1: "necrotic tumour core", 2: "peritumoral edema", 3: "enhancing tumour"],
        regions: [("WT", [1, 2, 3]), ("TC", [1, 3]), ("ET", [3])])

    /// MSD Task01_BrainTumour: other meanings for the same numbers (1 is oedema here).
    public static let msdBrain = LabelConvention(
        name: "msd-brain",
        labels: [0: "background", 1: "edema", 2: "non-enhancing tumour", 3: "enhancing tumour"],
        regions: [("WT", [1, 2, 3]), ("TC", [2, 3]), ("ET", [3])])

    /// LiTS and MSD Task03_Liver: 1 liver, 2 tumour; the liver region includes its tumours.
    public static let lits = LabelConvention(
        name: "lits",
        labels: [0: "background", 1: "liver", 2: "tumour"],
        regions: [("liver", [1, 2]), ("tumour", [2])])

    public static let builtIn: [LabelConvention] = [brats2021, brats2023, msdBrain, lits]

    /// A built-in convention by name (case-insensitive), e.g. from a pipeline configuration.
    public static func named(_ name: String) -> LabelConvention? {
        builtIn.first { $0.name.lowercased() == name.lowercased() }
    }
}
