import Foundation
import VolSegCore
import VolSegIO

/// The files one nnU-Net case writes: the label map, and with `--save_probabilities` the
/// probabilities `CASE.npz` (key `probabilities`, float32, (C, z, y, x)) and the properties
/// `CASE.pkl` beside it, named as nnU-Net names them; optionally VolSeg's 4D NIfTI copy of the
/// probabilities. Every file is written whole or not at all; the label map goes last, so a case
/// counts as done (for --continue_prediction) only when all its files are there.
public struct NNUNetOutputs {
    public let labelMap: URL
    public let saveProbabilities: Bool
    public let probabilitiesNIfTI: URL?

    public init(labelMap: URL, saveProbabilities: Bool, probabilitiesNIfTI: URL?) {
        self.labelMap = labelMap
        self.saveProbabilities = saveProbabilities
        self.probabilitiesNIfTI = probabilitiesNIfTI
    }

    public var needsProbabilities: Bool { saveProbabilities || probabilitiesNIfTI != nil }

    /// `CASE.npz` and `CASE.pkl` beside `CASE.nii.gz`.
    public static func companions(of labelMap: URL) -> (npz: URL, pkl: URL) {
        let stem = NIfTIFileName.stem(labelMap.lastPathComponent) ?? labelMap.deletingPathExtension().lastPathComponent
        let folder = labelMap.deletingLastPathComponent()
        return (folder.appendingPathComponent(stem + ".npz"), folder.appendingPathComponent(stem + ".pkl"))
    }

    var files: [URL] {
        let (npz, pkl) = NNUNetOutputs.companions(of: labelMap)
        return [labelMap] + (saveProbabilities ? [npz, pkl] : []) + (probabilitiesNIfTI.map { [$0] } ?? [])
    }

    /// Refuses, before any work, outputs that would replace an input or land in a folder that
    /// cannot be written.
    public func check(inputs: [URL]) throws {
        for url in files {
            try AtomicFile.checkFolder(of: url)
            try OutputCheck.refuseOverwriting(inputs, with: url)
        }
    }

    /// A case is complete when its label map reads back whole and its companions exist.
    public static func isComplete(_ labelMap: URL, probabilities: Bool) -> Bool {
        guard (try? NIfTIReader.readHeader(labelMap)) != nil, (try? NIfTIReader.read(labelMap)) != nil else { return false }
        guard probabilities else { return true }
        let (npz, pkl) = companions(of: labelMap)
        return FileManager.default.fileExists(atPath: npz.path) && FileManager.default.fileExists(atPath: pkl.path)
    }

    public func write(_ prediction: NNUNetPredictor.Prediction, plans: NNUNetPlans) throws {
        let header = prediction.header
        // SimpleITKIO writes the geometry ITK read (the chosen form, in both qform and sform);
        // the nibabel readers write the input's own affine (restored, for the reorienting one).
        let outputHeader = plans.imageReader == .simpleITK
            ? header.replacingGeometry(with: ITKImageGeometry(header: header).affine) : header
        var written: [URL] = []
        do {
            if saveProbabilities, let probabilities = prediction.probabilities {
                let (npz, pkl) = NNUNetOutputs.companions(of: labelMap)
                try NumpyArchiveWriter.write(probabilities, key: "probabilities", to: npz)
                written.append(npz)
                let properties = NNUNetOutputs.propertiesPickle(prediction, reader: plans.imageReader)
                try AtomicFile.write(Data(PickleWriter.encode(properties)), to: pkl)
                written.append(pkl)
            }
            if let probabilitiesNIfTI, let probabilities = prediction.probabilities {
                // On the input's grid, unlike the npz, which keeps nnU-Net's (RAS for a reorienting reader).
                let onInputGrid = prediction.orientation?.fromCanonical(probabilities) ?? probabilities
                try NIfTIWriter.writeFloatMap(onInputGrid, like: outputHeader, to: probabilitiesNIfTI)
                written.append(probabilitiesNIfTI)
            }
            try NIfTIWriter.writeLabelMap(prediction.labels, like: outputHeader, to: labelMap)
        } catch {
            for url in written { try? FileManager.default.removeItem(at: url) }
            throw error
        }
    }

    /// What `write` adds to the memory ledger, for a planned `prediction`, in the same order:
    /// the probabilities reoriented for the NIfTI copy (freed after it), then the label map's buffer.
    public func planWrite(_ prediction: NNUNetPredictor.Prediction, largestLabel: Int) {
        if probabilitiesNIfTI != nil, let probabilities = prediction.probabilities, let orientation = prediction.orientation {
            withExtendedLifetime(orientation.fromCanonical(probabilities)) {}
        }
        NIfTIWriter.planLabelMapWrite(prediction.labels, largestLabel: largestLabel)
    }

    /// nnU-Net's properties dict: the reader's geometry (SimpleITKIO: `sitk_stuff` with ITK's
    /// LPS spacing, origin and direction; the nibabel readers: `nibabel_stuff` with the original
    /// affine and, reorienting, the RAS grid's, as nested lists where nnU-Net pickles numpy arrays:
    /// nibabel takes either), the spacing (z, y, x), the shapes and the crop box in the plans' axis order.
    static func propertiesPickle(_ prediction: NNUNetPredictor.Prediction, reader: NNUNetPlans.ImageReader) -> PickleWriter.Value {
        let properties = prediction.properties, header = prediction.header
        let crop = properties.crop
        func matrix(_ affine: NIfTIAffine) -> PickleWriter.Value {
            .list((0..<4).map { r in .list((0..<4).map { c in .float(affine[r, c]) }) })
        }
        let geometry: (String, PickleWriter.Value)
        switch reader {
        case .simpleITK:
            let itk = ITKImageGeometry(header: header)
            geometry = ("sitk_stuff", .dict([("spacing", .tuple(itk.spacing.map { .float($0) })), ("origin", .tuple(itk.lpsOrigin.map { .float($0) })),
                                             ("direction", .tuple(itk.lpsDirection.map { .float($0) }))]))
        case .nibabel:
            geometry = ("nibabel_stuff", .dict([("original_affine", matrix(header.affine))]))
        case .nibabelReoriented:
            let orientation = prediction.orientation ?? CanonicalOrientation(header: header)
            geometry = ("nibabel_stuff", .dict([("original_affine", matrix(header.affine)),
                                                ("reoriented_affine", matrix(orientation.canonicalAffine))]))
        }
        return .dict([
            geometry,
            ("spacing", .list(properties.spacing.map { .float($0) })),
            ("shape_before_cropping", .tuple(properties.shapeBeforeCropping.map { .int($0) })),
            ("bbox_used_for_cropping", .list((0..<3).map { .list([.int(crop.lower[$0]), .int(crop.upper[$0])]) })),
            ("shape_after_cropping_and_before_resampling", .tuple(properties.shapeAfterCropping.map { .int($0) })),
        ])
    }
}
