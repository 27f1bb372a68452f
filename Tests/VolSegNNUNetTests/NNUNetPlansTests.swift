import Foundation
import VolSegModels
import VolSegNNUNet
import XCTest

/// Plans, dataset.json and model-folder reading: both plans formats nnU-Net v2 has written, region
/// order kept from the file, and a named error for each thing that cannot run.
final class NNUNetPlansTests: XCTestCase {
    var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("volseg-plans-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    func write(_ text: String, _ name: String) throws -> URL {
        let url = work.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static let configurationBody = """
        "patch_size": [64, 64, 32], "spacing": [3.0, 0.8, 0.8], "normalization_schemes": ["CTNormalization"],
        "use_mask_for_norm": [false], "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {"is_seg": false, "order": 3, "order_z": 0, "force_separate_z": null},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {"is_seg": false, "order": 1, "order_z": 0, "force_separate_z": null}
        """

    /// nnU-Net 2.1/2.2 plans (TotalSegmentator's models): features double up to the cap.
    func testLegacyPlansBuildTheSameNetworkAsTheArchitectureEntry() throws {
        let plans = try NNUNetPlans.read(try write("""
            {"plans_name": "nnUNetPlans", "transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2],
             "foreground_intensity_properties_per_channel": {"0": {"mean": 100, "std": 50, "percentile_00_5": -50, "percentile_99_5": 300}},
             "configurations": {"3d_fullres": {\(Self.configurationBody), "UNet_class_name": "PlainConvUNet", "UNet_base_num_features": 32,
               "unet_max_num_features": 64, "n_conv_per_stage_encoder": [2, 2, 2], "n_conv_per_stage_decoder": [2, 2],
               "conv_kernel_sizes": [[1, 3, 3], [3, 3, 3], [3, 3, 3]], "pool_op_kernel_sizes": [[1, 1, 1], [1, 2, 2], [2, 2, 2]]},
               "3d_lowres": {"inherits_from": "3d_fullres", "spacing": [6.0, 1.6, 1.6]},
               "3d_cascade_fullres": {"inherits_from": "3d_fullres", "previous_stage": "3d_lowres"}}}
            """, "plans.json"))
        let fullres = try plans.configuration("3d_fullres")
        XCTAssertEqual(fullres.architecture.features, [32, 64, 64])
        XCTAssertEqual(fullres.architecture.kernels, [[1, 3, 3], [3, 3, 3], [3, 3, 3]])
        XCTAssertEqual(fullres.architecture.sizeDivisor, [2, 4, 4])
        XCTAssertEqual(fullres.dataResampling, NNUNetResamplingSettings(order: 3, orderZ: 0, forceSeparateZ: nil))
        XCTAssertEqual(try plans.configuration("3d_lowres").spacing, [6.0, 1.6, 1.6], "the child's keys replace the parent's")
        XCTAssertEqual(try plans.configuration("3d_lowres").patchSize, [64, 64, 32], "the parent's keys are inherited")
        XCTAssertThrowsError(try plans.configuration("3d_cascade_fullres")) { error in
            XCTAssertTrue("\(error)".contains("the cascade configuration \"3d_cascade_fullres\""), "\(error)")
        }
        XCTAssertThrowsError(try plans.configuration("2d")) { error in
            XCTAssertEqual(error as? NNUNetError, .unknownConfiguration(path: plans.path, name: "2d",
                                                                           available: ["3d_cascade_fullres", "3d_fullres", "3d_lowres"]))
        }
    }

    func testUnsupportedPiecesAreNamed() throws {
        func plans(_ architecture: String, reader: String = "SimpleITKIO", schemes: String = "[\"CTNormalization\"]") throws -> URL {
            try write("""
                {"transpose_forward": [0, 1, 2], "transpose_backward": [0, 1, 2], "image_reader_writer": "\(reader)",
                 "foreground_intensity_properties_per_channel": {"0": {"mean": 1, "std": 1, "percentile_00_5": 0, "percentile_99_5": 2}},
                 "configurations": {"3d_fullres": {\(Self.configurationBody.replacingOccurrences(of: "[\"CTNormalization\"]", with: schemes)),
                   "architecture": {"network_class_name": "\(architecture)", "arch_kwargs": {"n_stages": 2,
                   "features_per_stage": [8, 16], "conv_op": "torch.nn.modules.conv.Conv3d", "kernel_sizes": [[3, 3, 3], [3, 3, 3]],
                   "strides": [[1, 1, 1], [2, 2, 2]], "n_conv_per_stage": 2, "n_conv_per_stage_decoder": [2], "conv_bias": true,
                   "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d", "norm_op_kwargs": {"eps": 1e-05, "affine": true},
                   "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": true}}}}}}
                """, "p-\(UUID().uuidString).json")
        }
        let good = try NNUNetPlans.read(try plans("dynamic_network_architectures.architectures.unet.PlainConvUNet"))
        let architecture = try good.configuration("3d_fullres").architecture
        XCTAssertEqual(architecture.encoderDepth, [2, 2], "an int is broadcast to every stage")
        XCTAssertEqual(architecture.slope, 0.01)
        XCTAssertThrowsError(try NNUNetPlans.read(try plans("x.Primus")).configuration("3d_fullres")) {
            XCTAssertTrue("\($0)".contains("\"x.Primus\" (PlainConvUNet and ResidualEncoderUNet are)"), "\($0)")
        }
        XCTAssertThrowsError(try NNUNetPlans.read(try plans("x.PlainConvUNet", reader: "Tiff3DIO"))) {
            XCTAssertTrue("\($0)".contains("image_reader_writer \"Tiff3DIO\""), "\($0)")
        }
        XCTAssertThrowsError(try NNUNetPlans.read(try plans("x.PlainConvUNet", schemes: "[\"MyNorm\"]")).configuration("3d_fullres")) {
            XCTAssertTrue("\($0)".contains("normalization scheme \"MyNorm\""), "\($0)")
        }
    }

    /// Regions take their channel order from the file's order, which JSONSerialization loses.
    func testRegionChannelsFollowTheFileOrder() throws {
        let labels = try NNUNetLabels.read(try write("""
            {"channel_names": {"0": "T1", "1": "T1ce", "2": "T2", "3": "FLAIR"},
             "labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": 3},
             "regions_class_order": [1, 2, 3], "file_ending": ".nii.gz"}
            """, "dataset.json"))
        XCTAssertEqual(labels.inputChannelCount, 4)
        guard case .regions(let regions) = labels.output else { return XCTFail("not region-based") }
        XCTAssertEqual(regions.map(\.name), ["whole tumor", "tumor core", "enhancing tumor"])
        XCTAssertEqual(regions.map(\.labels), [[1, 2, 3], [2, 3], [3]])
        XCTAssertEqual(regions.map(\.paint), [1, 2, 3])
        XCTAssertThrowsError(try NNUNetLabels.read(try write("""
            {"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1, "tumour": 3}}
            """, "gap.json"))) { XCTAssertTrue("\($0)".contains("values [0, 1, 3] must be consecutive from 0"), "\($0)") }
    }
}
