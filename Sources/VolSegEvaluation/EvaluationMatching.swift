import Foundation
import VolSegIO

/// One case to score: its prediction, its reference label map, and the image it was segmented
/// from when the reference folder is a dataset that has one (for the report's pictures).
public struct EvaluationPair: Equatable, Sendable {
    public let caseID: String
    public let prediction: URL
    public let reference: URL
    public let image: DatasetChannel?

    public init(caseID: String, prediction: URL, reference: URL, image: DatasetChannel? = nil) {
        self.caseID = caseID
        self.prediction = prediction
        self.reference = reference
        self.image = image
    }
}

/// Pairs the files of a prediction folder with the label maps of a reference folder by case id.
///
/// Case ids are file names without .nii/.nii.gz. A reference folder in a detected dataset layout
/// uses that layout's case ids (a BraTS case folder's name, an nnU-Net or MSD case, LiTS
/// `segmentation-N` -> `volume-N`, the id `volseg segment` names its outputs by), and a flat folder
/// of BraTS `<case>_seg` or LiTS `segmentation-N` files maps to the same ids.
public struct EvaluationMatching: Sendable {
    public let pairs: [EvaluationPair]
    /// Reference cases without a prediction: "id (reference file)".
    public let missingPredictions: [String]
    /// Predictions without a reference: "id (prediction file)".
    public let extraPredictions: [String]
    /// The reference dataset's layout and label convention, when one was detected.
    public let layoutName: String?
    public let convention: LabelConvention?

    public var isComplete: Bool { missingPredictions.isEmpty && extraPredictions.isEmpty }

    public static func match(predictions: URL, references: URL) throws -> EvaluationMatching {
        for (folder, role) in [(predictions, "prediction"), (references, "reference")] where !isFolder(folder) {
            throw EvaluationError.notAFolder(path: folder.path, role: role)
        }
        let predicted = try caseFiles(flatFolder: predictions, segmentations: true)
        if predicted.isEmpty { throw EvaluationError.noLabelMaps(folder: predictions.path, role: "prediction") }
        let (referenced, layout) = try referenceCases(references)
        if referenced.isEmpty { throw EvaluationError.noLabelMaps(folder: references.path, role: "reference") }

        var pairs = [EvaluationPair](), missing = [String]()
        for (id, reference) in referenced.sorted(by: { $0.key < $1.key }) {
            if let prediction = predicted[id] {
                pairs.append(EvaluationPair(caseID: id, prediction: prediction, reference: reference.label, image: reference.image))
            } else {
                missing.append("\(id) (\(reference.label.path))")
            }
        }
        let extra = predicted.filter { referenced[$0.key] == nil }.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value.path))" }
        return EvaluationMatching(pairs: pairs, missingPredictions: missing, extraPredictions: extra,
                                  layoutName: layout?.layoutName, convention: layout?.labelConvention)
    }

    /// The case id of a label map file name, or nil when it is not a .nii/.nii.gz file.
    public static func caseID(ofFileNamed name: String) -> String? {
        guard let stem = NIfTIFileName.stem(name) else { return nil }
        if let n = litsNumber(stem, prefix: "segmentation-") { return "volume-\(n)" }
        for suffix in ["_seg", "-seg"] where stem.hasSuffix(suffix) {
            let caseName = String(stem.dropLast(suffix.count))
            if caseName.range(of: #"^(BraTS(20_[A-Za-z]+_\d+|2021_\d+)|BraTS-[A-Z]+-\d+-\d+)$"#, options: .regularExpression) != nil {
                return caseName
            }
        }
        return stem
    }

    static func litsNumber(_ stem: String, prefix: String) -> Int? {
        guard stem.hasPrefix(prefix) else { return nil }
        return Int(stem.dropFirst(prefix.count))
    }

    static func isFolder(_ url: URL) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &flag) && flag.boolValue
    }

    static func files(_ folder: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
    }

    /// Case id -> file for the NIfTI files directly in `folder`, and DICOM Segmentation files
    /// (`CASE.dcm`) among the predictions.
    static func caseFiles(flatFolder folder: URL, segmentations: Bool = false) throws -> [String: URL] {
        var byCase = [String: URL]()
        for url in files(folder) where !isFolder(url) {
            let segmentation = segmentations && EvaluationPrediction.isSegmentation(url)
            guard let id = segmentation ? url.deletingPathExtension().lastPathComponent : caseID(ofFileNamed: url.lastPathComponent) else { continue }
            if segmentation && !DICOMSegmentation.isSegmentation(url) {
                throw EvaluationError.notALabelMap(path: url.path, reason: "a .dcm prediction must be a DICOM Segmentation object")
            }
            if let other = byCase[id] {
                throw EvaluationError.duplicateCase(caseID: id, files: [other.path, url.path])
            }
            byCase[id] = url
        }
        return byCase
    }

    /// Case id -> label file (and image) of a reference folder: a detected layout, else flat files.
    static func referenceCases(_ folder: URL) throws -> ([String: (label: URL, image: DatasetChannel?)], (any DatasetLayout)?) {
        guard let layout = try? DatasetDetector.detect(folder) else {
            return (try caseFiles(flatFolder: folder).mapValues { ($0, nil) }, nil)
        }
        var out = [String: (label: URL, image: DatasetChannel?)]()
        if layout is LiTSLayout {
            // LiTS: segmentation-N in the folder or its batch subfolders; volume-N is the image.
            // Segmentations whose volume is elsewhere still count (a folder of references only).
            let candidates = files(folder) + files(folder).filter(isFolder).flatMap(files)
            var volumes = [String: URL]()
            for url in candidates {
                guard let stem = NIfTIFileName.stem(url.lastPathComponent) else { continue }
                if litsNumber(stem, prefix: "volume-") != nil { volumes[stem] = url }
            }
            for url in candidates {
                guard let stem = NIfTIFileName.stem(url.lastPathComponent), let n = litsNumber(stem, prefix: "segmentation-") else { continue }
                let id = "volume-\(n)"
                if let other = out[id] { throw EvaluationError.duplicateCase(caseID: id, files: [other.label.path, url.path]) }
                out[id] = (url, volumes[id].map { DatasetChannel(modality: "CT", file: $0) })
            }
            return (out, layout)
        }
        for dataCase in layout.scan().cases {
            guard let label = dataCase.labelFile else { continue }
            // FLAIR shows the whole tumour best; other datasets show their first channel.
            let image = dataCase.channels.first { $0.modality == "FLAIR" } ?? dataCase.channels.first
            out[dataCase.id] = (label, image)
        }
        return (out, layout)
    }
}
