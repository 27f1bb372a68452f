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

    public func write(labels: Tensor, probabilities: Tensor?, header: NIfTIHeader, properties: NNUNetCaseProperties,
                      plans: NNUNetPlans) throws {
        // SimpleITKIO writes the geometry ITK read (the chosen form, in both qform and sform);
        // NibabelIO writes the input's own affine.
        let outputHeader = plans.imageReader == .simpleITK
            ? header.replacingGeometry(with: ITKImageGeometry(header: header).affine) : header
        var written: [URL] = []
        do {
            if saveProbabilities, let probabilities {
                let (npz, pkl) = NNUNetOutputs.companions(of: labelMap)
                try NumpyArchiveWriter.write(probabilities, key: "probabilities", to: npz)
                written.append(npz)
                try AtomicFile.write(Data(PickleWriter.encode(NNUNetOutputs.propertiesPickle(properties, header: header))), to: pkl)
                written.append(pkl)
            }
            if let probabilitiesNIfTI, let probabilities {
                try NIfTIWriter.writeFloatMap(probabilities, like: outputHeader, to: probabilitiesNIfTI)
                written.append(probabilitiesNIfTI)
            }
            try NIfTIWriter.writeLabelMap(labels, like: outputHeader, to: labelMap)
        } catch {
            for url in written { try? FileManager.default.removeItem(at: url) }
            throw error
        }
    }

    /// nnU-Net's properties dict for a SimpleITK-read case: the ITK geometry (LPS, x-first), the
    /// spacing (z, y, x), the shapes and the crop box in the plans' axis order.
    static func propertiesPickle(_ properties: NNUNetCaseProperties, header: NIfTIHeader) -> PickleWriter.Value {
        let geometry = ITKImageGeometry(header: header)
        let (spacing, origin, direction) = (geometry.spacing, geometry.lpsOrigin, geometry.lpsDirection)
        let crop = properties.crop
        return .dict([
            ("sitk_stuff", .dict([("spacing", .tuple(spacing.map { .float($0) })), ("origin", .tuple(origin.map { .float($0) })),
                                  ("direction", .tuple(direction.map { .float($0) }))])),
            ("spacing", .list(properties.spacing.map { .float($0) })),
            ("shape_before_cropping", .tuple(properties.shapeBeforeCropping.map { .int($0) })),
            ("bbox_used_for_cropping", .list((0..<3).map { .list([.int(crop.lower[$0]), .int(crop.upper[$0])]) })),
            ("shape_after_cropping_and_before_resampling", .tuple(properties.shapeAfterCropping.map { .int($0) })),
        ])
    }
}
