import Foundation
@testable import VolSegCore
@testable import VolSegIO
@testable import VolSegInference
@testable import VolSegModels
@testable import VolSegNN
@testable import VolSegPreprocessing
import VolSegTestSupport
import XCTest

/// Checkpoints with the bundle config, end to end on real volumes with random-weight networks
/// (shape, geometry and label range; not accuracy), and the planned peak.
final class SegmenterTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-segmenter-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    static let liverCT = CTNormalization.window(-200...250, mean: 99.4, std: 39.4)

    /// A random-weight two-stage U-Net and its config.
    func makeBundle(channels: Int = 1, output: SegmentationOutput = .labels([0, 1, 2]), patch: [Int] = [64, 64, 64],
                    preprocessor: Preprocessor = Preprocessor(targetSpacing: nil, normalization: .ct(liverCT)),
                    convention: LabelConvention = .lits, modalities: [String] = ["CT"]) throws -> ModelBundle {
        let model = try ModelRegistry.make(name: "unet3d", config: ["input_channels": channels, "num_classes": output.channelCount,
                                                                    "widths": [4, 8], "deep_supervision": false],
                                           initializer: ParameterInitializer(seed: 5))
        let config = ModelBundleConfig(model: model, patch: patch, preprocessor: preprocessor, labelConvention: convention,
                                       output: output, modalities: modalities)
        return try ModelBundle(model: model, config: config)
    }

    func writeCheckpoint(config: [String: Any], name: String = "model.h5") throws -> URL {
        let bundle = try makeBundle()
        let url = folder.appendingPathComponent(name)
        try Checkpoint(model: bundle.model, config: config, provenance: [:]).write(to: url)
        return url
    }

    func testConfigRoundTripsThroughACheckpoint() throws {
        let bundle = try makeBundle()
        let url = folder.appendingPathComponent("liver.h5")
        try bundle.write(to: url, provenance: ["source": "test"])
        let loaded = try ModelBundle.load(url)
        XCTAssertEqual(loaded.config.modelName, "unet3d")
        XCTAssertEqual(loaded.config.modelConfig["widths"] as? [Int], [4, 8])
        XCTAssertEqual(loaded.config.patch, [64, 64, 64])
        XCTAssertEqual(loaded.config.preprocessor.normalization, .ct(Self.liverCT))
        XCTAssertNil(loaded.config.preprocessor.targetSpacing)
        XCTAssertEqual(loaded.config.labelConvention, .lits)
        XCTAssertEqual(loaded.config.output, .labels([0, 1, 2]))
        XCTAssertEqual(loaded.config.modalities, ["CT"])
        let weights = loaded.model.namedParameters().map { $0.tensor.toArray() }
        XCTAssertEqual(weights, bundle.model.namedParameters().map { $0.tensor.toArray() })

        let regions = ModelBundleConfig.output(for: .brats2021, regionBased: true)
        let mri = ModelBundleConfig(modelName: "unet3d", modelConfig: ["input_channels": 4], patch: [128, 128, 128],
                                    preprocessor: Preprocessor(targetSpacing: [1, 1, 1], normalization: .zScoreInsideMask),
                                    labelConventionName: "brats2021", output: regions, modalities: BraTSModality.order)
        let text = try JSONSerialization.data(withJSONObject: mri.json)
        let parsed = try ModelBundleConfig(json: JSONSerialization.jsonObject(with: text) as! [String: Any], file: "x.h5")
        XCTAssertEqual(parsed.output, regions)
        XCTAssertEqual(parsed.preprocessor.targetSpacing, [1, 1, 1])
        XCTAssertEqual(parsed.preprocessor.normalization, .zScoreInsideMask)
        XCTAssertEqual(parsed.modalities, ["T1", "T1ce", "T2", "FLAIR"])
    }

    func testEveryMissingKeyIsNamedWithTheFile() throws {
        let complete = try makeBundle().config.json
        var cases: [(String, [String: Any])] = []
        for key in ["model", "patch", "preprocessing", "label_convention", "modalities", "labels"] {
            var c = complete; c[key] = nil; cases.append((key, c))
        }
        var noSpacing = complete, noKind = complete, noName = complete
        var preprocessing = complete["preprocessing"] as! [String: Any]
        preprocessing["target_spacing"] = nil; noSpacing["preprocessing"] = preprocessing
        preprocessing = complete["preprocessing"] as! [String: Any]
        preprocessing["normalization"] = ["kind": "ct", "lower": -200, "upper": 250, "std": 39.4]; noKind["preprocessing"] = preprocessing
        noName["model"] = ["config": [:] as [String: Any]]
        cases += [("preprocessing.target_spacing", noSpacing), ("preprocessing.normalization.mean", noKind), ("model.name", noName)]
        for (key, config) in cases {
            let url = try writeCheckpoint(config: config, name: "missing-\(key).h5")
            XCTAssertThrowsError(try ModelBundle.load(url), key) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(url.path) && message.contains("\"\(key)\""), message)
                let expected: ModelBundleError = key == "labels" ? .configMissingOutput(path: url.path)
                                                                 : .configMissingKey(path: url.path, key: key)
                XCTAssertEqual(error as? ModelBundleError, expected)
            }
        }
    }

    func testCheckpointsThatCannotSegmentAreRejectedNamingTheFile() throws {
        let text = folder.appendingPathComponent("notes.h5")
        try Data("not an HDF5 file".utf8).write(to: text)
        let weightsOnly = try writeCheckpoint(config: [:], name: "weights-only.h5")
        var wrongClasses = try makeBundle().config.json
        wrongClasses["labels"] = [0, 1]
        let mismatch = try writeCheckpoint(config: wrongClasses, name: "two-labels.h5")
        var unknownModel = try makeBundle().config.json
        unknownModel["model"] = ["name": "resnet", "config": [:] as [String: Any]]
        let unknown = try writeCheckpoint(config: unknownModel, name: "resnet.h5")
        let expectations: [(URL, String)] = [
            (folder.appendingPathComponent("absent.h5"), "no such checkpoint file"),
            (text, "not a VolSeg checkpoint"),
            (weightsOnly, "has no root attribute \"config\""),
            (mismatch, "3 output channels"),
            (unknown, "unknown model 'resnet'"),
        ]
        for (url, phrase) in expectations {
            XCTAssertThrowsError(try ModelBundle.load(url)) { error in
                let message = "\(error)"
                XCTAssertTrue(message.hasPrefix(url.path) && message.contains(phrase), message)
                guard let typed = error as? ModelBundleError else { return XCTFail("untyped error \(error)") }
                XCTAssertEqual(typed.path, url.path)
                switch (phrase, typed) {
                case ("no such checkpoint file", .missingFile), ("not a VolSeg checkpoint", .notACheckpoint),
                     ("has no root attribute \"config\"", .noConfig), ("unknown model 'resnet'", .modelNotBuilt): break
                case ("3 output channels", .outputChannelsMismatch(_, let network, let listed, let regionBased)):
                    XCTAssertEqual([network, listed], [3, 2])
                    XCTAssertFalse(regionBased)
                default: XCTFail("\(phrase): unexpected case \(typed)")
                }
            }
        }
    }

    func testRandomLiverModelSegmentsTheRealCTOnItsGridAndWritesItsGeometry() throws {
        guard let ctURL = TestPaths.sharedFile("data/liver117/ct.nii.gz") else { throw XCTSkip("../shared absent") }
        let image = try SegmenterInput.readChannels([ctURL], modalities: ["CT"])
        let segmenter = Segmenter(bundle: try makeBundle(), options: SegmenterOptions(step: 1, postprocessing: .lits))
        let result = try segmenter.segment(image)
        XCTAssertEqual(result.labels.shape, [1, 128, 128, 128])
        XCTAssertEqual(result.windowCount, 8)
        XCTAssertTrue(Set(result.labels.toArray()).isSubset(of: [0, 1, 2]))
        let out = folder.appendingPathComponent("liver-mask.nii.gz")
        try NIfTIWriter.writeLabelMap(result.labels, like: image.header, to: out)
        try assertSameGeometry(out, as: ctURL)
    }

    func testResampledAndReorientedMRIComesBackOnTheInputGrid() throws {
        guard let url = TestPaths.sharedFile("data/itk_head_t1/t1.nii.gz") else { throw XCTSkip("../shared absent") }
        let image = try NIfTIReader.read(url)
        // The file is L, S, A at 2 x 2 x 3 mm; the network grid is RAS at 3 mm.
        let bundle = try makeBundle(output: .labels([0, 4, 5, 6]), patch: [32, 32, 32],
                                    preprocessor: Preprocessor(targetSpacing: [3, 3, 3], normalization: .zScoreInsideMask),
                                    convention: LabelConvention(name: "head", labels: [0: "bg", 4: "a", 5: "b", 6: "c"], regions: []),
                                    modalities: ["T1"])
        let result = try Segmenter(bundle: bundle, options: SegmenterOptions(keepProbabilities: true)).segment(image)
        XCTAssertEqual(result.labels.shape, [1, 62, 128, 128])
        XCTAssertTrue(Set(result.labels.toArray()).isSubset(of: [0, 4, 5, 6]))
        let probabilities = try XCTUnwrap(result.probabilities)
        XCTAssertEqual(probabilities.shape, [4, 62, 128, 128])
        let volume = 62 * 128 * 128
        var worst: Float = 0
        for i in stride(from: 0, to: volume, by: 97) {
            worst = max(worst, abs((0..<4).reduce(Float(0)) { $0 + probabilities.data[$1 * volume + i] } - 1))
        }
        XCTAssertLessThan(worst, 1e-5, "probabilities still sum to 1 after resampling back")
        let out = folder.appendingPathComponent("head.nii.gz"), probabilitiesOut = folder.appendingPathComponent("head-p.nii.gz")
        try NIfTIWriter.writeLabelMap(result.labels, like: image.header, to: out)
        try NIfTIWriter.writeFloatMap(probabilities, like: image.header, to: probabilitiesOut)
        try assertSameGeometry(out, as: url)
        XCTAssertEqual(try NIfTIReader.readHeader(probabilitiesOut).dims, [128, 128, 62, 4])
    }

    func assertSameGeometry(_ written: URL, as input: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let a = try NIfTIReader.readHeader(written), b = try NIfTIReader.readHeader(input)
        XCTAssertEqual(a.dims, b.dims, file: file, line: line)
        XCTAssertEqual(a.datatype, NIfTIDatatype.uint8, file: file, line: line)
        XCTAssertEqual(a.qformCode, b.qformCode, file: file, line: line)
        XCTAssertEqual(a.sformCode, b.sformCode, file: file, line: line)
        XCTAssertEqual(a.xyzUnits, b.xyzUnits, file: file, line: line)
        XCTAssertEqual(a.qfac, b.qfac, file: file, line: line)
        for i in 1...3 { XCTAssertEqual(a.pixdim[i], b.pixdim[i], accuracy: 1e-6, file: file, line: line) }
        for r in 0..<4 {
            for c in 0..<4 {
                XCTAssertEqual(a.sform[r, c], b.sform[r, c], accuracy: 1e-5, "sform", file: file, line: line)
                XCTAssertEqual(a.qform[r, c], b.qform[r, c], accuracy: 1e-5, "qform", file: file, line: line)
            }
        }
        XCTAssertEqual(a.storedSlope, 1, file: file, line: line)
        XCTAssertEqual(a.storedIntercept, 0, file: file, line: line)
    }

    func testPlannedSegmentationReachesTheRealPeak() throws {
        guard let url = TestPaths.sharedFile("data/itk_head_t1/t1.nii.gz") else { throw XCTSkip("../shared absent") }
        let image = try NIfTIReader.read(url)
        // At 4 mm the network grid is 64 x 31 x 64: 2 x 1 x 2 windows of 48^3, padded along A-P,
        // each seen 8 times; probabilities resampled back to the input grid and reoriented.
        let bundle = try makeBundle(output: .labels([0, 1]), patch: [48, 48, 48],
                                    preprocessor: Preprocessor(targetSpacing: [4, 4, 4], normalization: .zScoreInsideMask),
                                    convention: LabelConvention(name: "head", labels: [0: "bg", 1: "brain"], regions: []),
                                    modalities: ["T1"])
        let segmenter = Segmenter(bundle: bundle, options: SegmenterOptions(mirroring: true, keepProbabilities: true))
        let real = MemoryLedger.shared.measurePeak { _ = try? segmenter.segment(image) }.peakBytes
        let planned = try segmenter.plannedPeak(image)
        print("head T1 128x128x62 at 4 mm: real peak \(real) bytes, planned \(planned)")
        XCTAssertGreaterThan(real, 0)
        XCTAssertEqual(planned, real)
    }

    /// The README's figure: sliding-window inference of a BraTS-sized case (4 x 155 x 240 x 240)
    /// with bench-unet (1.4 M parameters, 16-32-64-128) and nnU-Net's 128^3 patch, planned.
    func testBraTSSizedInferencePeakIsTheAccumulatorsPlusOneWindow() throws {
        let model = try ModelRegistry.make(name: "bench-unet", config: ["input_channels": 4, "num_classes": 3],
                                           initializer: ParameterInitializer(planned: true))
        let inference = SlidingWindowInference(model: model, output: ModelBundleConfig.output(for: .brats2021, regionBased: true),
                                               patch: [128, 128, 128])
        let image = Tensor.planned([4, 155, 240, 240])
        let peak = MemoryLedger.shared.measurePeak { _ = inference.predict(image) }.peakBytes
        let accumulators = 4 * 155 * 240 * 240 * 4
        print("BraTS-sized sliding window (bench-unet, 128^3, \(inference.layout(for: [155, 240, 240]).windowCount) windows): "
              + "peak \(peak) bytes = \(String(format: "%.1f", Double(peak) / 1_048_576)) MiB above the input, "
              + "of which accumulators \(accumulators / 1_048_576) MiB")
        XCTAssertGreaterThan(peak, accumulators)
        XCTAssertLessThan(peak, 1 << 30, "well under 1 GiB")
    }

    func testChannelFilesThatDoNotFitTheModelAreTypedErrors() {
        XCTAssertThrowsError(try SegmenterInput.readChannels([], modalities: ["CT"])) {
            XCTAssertEqual($0 as? SegmentationInputError, .noInputFile)
            XCTAssertEqual("\($0)", "-i: no input file given")
        }
        let a = folder.appendingPathComponent("a.nii.gz"), b = folder.appendingPathComponent("b.nii.gz")
        XCTAssertThrowsError(try SegmenterInput.readChannels([a, b], modalities: ["CT"])) {
            XCTAssertEqual($0 as? SegmentationInputError,
                           .channelFileCount(path: a.path, files: ["a.nii.gz", "b.nii.gz"], modalities: ["CT"]))
            XCTAssertTrue("\($0)".hasPrefix("\(a.path): 2 input file(s) given (a.nii.gz, b.nii.gz)"), "\($0)")
        }
    }
}
