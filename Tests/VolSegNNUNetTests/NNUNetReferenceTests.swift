import Foundation
import VolSegCore
import VolSegIO
import VolSegNNUNet
import VolSegTestSupport
import XCTest

/// VolSeg on nnU-Net v2 model folders against `nnUNetv2_predict -device cpu` itself
/// (Tests/References/nnunet, made by make_reference.py with nnunetv2 from PyPI): every case and
/// variant of the manifest (mirroring on and off, one and two folds, CT and MRI normalisation,
/// resampling both ways, residual encoder, 2D, regions, sform != qform).
///
/// Against the float32-patched nnU-Net run the probabilities agree to 1e-4 and the labels on every
/// voxel whose two largest probabilities are more than 2e-4 apart (closer ones are ties that a
/// 1e-4 difference may flip). Stock nnU-Net accumulates windows in float16, which moves its own
/// probabilities by up to 0.22 from its float32-patched run at the window borders; against it
/// VolSeg runs with `halfPrecision` (the same float16 roundings) and agrees to 1e-2, with equal
/// labels wherever the margin exceeds 0.01.
final class NNUNetReferenceTests: XCTestCase {
    static let root = TestPaths.repositoryRoot.appendingPathComponent("Tests/References/nnunet")

    struct Variant {
        let name: String
        let folds: [String]
        let mirroring: Bool
        let float32: Bool
    }

    func manifest() throws -> [String: Any] {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("manifest.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testEveryManifestCaseMatchesNNUNet() throws {
        let cases = try XCTUnwrap(try manifest()["cases"] as? [String: [String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 1)
        for name in cases.keys.sorted() { try check(case: name, cases[name]!) }
    }

    func check(case name: String, _ entry: [String: Any]) throws {
        let folderURL = Self.root.appendingPathComponent(try XCTUnwrap(entry["model_folder"] as? String))
        let input = Self.root.appendingPathComponent(try XCTUnwrap(entry["input_folder"] as? String))
        let variants = try XCTUnwrap(entry["variants"] as? [String: [String: Any]])
        for (variantName, raw) in variants.sorted(by: { $0.key < $1.key }) {
            let variant = Variant(name: variantName, folds: ((raw["folds"] as? [Any]) ?? []).map { "\($0)" },
                                  mirroring: raw["mirroring"] as? Bool ?? true, float32: raw["float32_accumulation"] as? Bool ?? false)
            let model = try NNUNetModelFolder.open(folderURL, folds: variant.folds)
            var predictor = NNUNetPredictor(model: model)
            predictor.mirroring = variant.mirroring
            // Stock nnU-Net accumulates in float16: compare with VolSeg's emulation of it.
            predictor.halfPrecision = !variant.float32
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-nnunet-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: out) }
            let items = try NNUNetCase.cases(in: input, fileEnding: model.labels.fileEnding, channels: model.labels.inputChannelCount)
            for item in items {
                let ours = out.appendingPathComponent(item.name + ".nii.gz")
                try predictor.segment(item, into: NNUNetOutputs(labelMap: ours, saveProbabilities: true, probabilitiesNIfTI: nil))
                let reference = Self.root.appendingPathComponent("outputs/\(name)/\(variantName)/\(item.name)")
                try compare(ours: ours, reference: reference, label: "\(name)/\(variantName)/\(item.name)", strict: variant.float32)
            }
        }
    }

    func compare(ours: URL, reference: URL, label: String, strict: Bool) throws {
        let mine = try NIfTIReader.read(ours), theirs = try NIfTIReader.read(URL(fileURLWithPath: reference.path + ".nii.gz"))
        XCTAssertEqual(mine.spatialShape, theirs.spatialShape, label)
        for r in 0..<4 {
            for c in 0..<4 {
                XCTAssertEqual(mine.affine[r, c], theirs.affine[r, c], accuracy: 1e-4, "\(label): affine[\(r), \(c)]")
            }
        }
        let p = try XCTUnwrap(try NumpyArchive.read(NNUNetOutputs.companions(of: ours).npz)["probabilities"], label)
        let q = try XCTUnwrap(try NumpyArchive.read(URL(fileURLWithPath: reference.path + ".npz"))["probabilities"], label)
        XCTAssertEqual(p.shape, q.shape, label)
        guard p.shape == q.shape, mine.spatialShape == theirs.spatialShape else { return }
        let channels = q.shape[0], volume = q.values.count / channels
        var worst = 0.0
        for i in q.values.indices { worst = max(worst, abs(p.values[i] - q.values[i])) }
        // The margin between nnU-Net's two largest probabilities at each voxel.
        let threshold = strict ? 2e-4 : 1e-2
        var flips = 0, ties = 0
        let a = mine.voxels.data, b = theirs.voxels.data
        for v in 0..<volume where a[v] != b[v] {
            var largest = -1.0, second = -1.0
            for c in 0..<channels {
                let x = q.values[c * volume + v]
                if x > largest { second = largest; largest = x } else if x > second { second = x }
            }
            if largest - second > threshold { flips += 1 } else { ties += 1 }
        }
        print("\(label): probabilities max |diff| \(String(format: "%.2e", worst)); label differences: \(flips) beyond the \(threshold) margin, \(ties) near-ties")
        XCTAssertLessThanOrEqual(worst, strict ? 1e-4 : 1e-2, "\(label): probabilities")
        XCTAssertEqual(flips, 0, "\(label): labels differ where nnU-Net's margin exceeds \(threshold)")
    }
}
