// swift-tools-version:6.0
import PackageDescription

// Kernel code is compiled for Haswell (AVX2 + FMA, every x86 server CPU since 2015): without a
// target CPU Swift emits baseline SSE2 code with no FMA, and SIMD loops run at a third of the speed.
// AVX-512 is not assumed, so the binary runs on any AVX2 machine. `-Ounchecked` drops the
// overflow checks in index arithmetic of inner loops (release only).
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"]),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]
// nifti2_io.h includes <znzlib.h>, which lives in /usr/include/nifti (Debian ships no .pc file).
let niftiInclude: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]

let package = Package(
    name: "VolSeg",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "volseg", targets: ["volseg"]),
        .library(name: "VolSeg", targets: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing",
                                           "VolSegEvaluation", "VolSegInference", "VolSegTraining", "VolSegAdaptation",
                                           "VolSegDatasets", "VolSegBench", "VolSegNNUNet", "VolSegDistributed", "VolSegReport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    ],
    targets: [
        // Public modules, bottom to top, each depending only on modules listed before it:
        // Core <- IO <- NN <- Models; Preprocessing and Evaluation need nothing above IO;
        // Inference <- Models, Preprocessing; Training <- Inference, Evaluation;
        // Adaptation <- Training; Datasets <- Preprocessing; Bench <- Models, Preprocessing;
        // Distributed (MPI) <- Core only: Training sees its ranks through Core's ProcessGroup; volseg <- all.
        .target(name: "VolSegCore", dependencies: ["CBLAS", "CVolSegKernels"], swiftSettings: kernelSettings),
        .target(name: "VolSegIO", dependencies: ["VolSegCore", "CNIfTI", "CHDF5", "CZlib", "CFileSystem", "CDICOM"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegNN", dependencies: ["VolSegCore", "VolSegIO"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegModels", dependencies: ["VolSegCore", "VolSegIO", "VolSegNN"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegPreprocessing", dependencies: ["VolSegCore", "VolSegIO"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegEvaluation", dependencies: ["VolSegCore", "VolSegIO"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegInference",
                dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegTraining",
                dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing",
                               "VolSegEvaluation", "VolSegInference", "Yams"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegAdaptation",
                dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing",
                               "VolSegEvaluation", "VolSegInference", "VolSegTraining"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegNNUNet",
                dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing",
                               "VolSegInference", "Yams"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegDatasets", dependencies: ["VolSegCore", "VolSegIO", "VolSegPreprocessing"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegBench", dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing", "CVolSegKernels"],
                swiftSettings: kernelSettings + niftiInclude),
        .target(name: "VolSegDistributed", dependencies: ["VolSegCore", "CMPI"], swiftSettings: kernelSettings),
        // The HTML report and case viewer: its page script and stylesheet are compiled into the
        // binary (embedInCode), so a report needs nothing beside volseg.
        .target(name: "VolSegReport", dependencies: ["VolSegCore", "VolSegIO", "VolSegEvaluation"],
                resources: [.embedInCode("viewer.js"), .embedInCode("report.css")], swiftSettings: niftiInclude),
        .executableTarget(name: "volseg", dependencies: [
            "VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing", "VolSegEvaluation",
            "VolSegInference", "VolSegTraining", "VolSegAdaptation", "VolSegDatasets", "VolSegBench", "VolSegNNUNet",
            "VolSegDistributed", "VolSegReport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: kernelSettings + niftiInclude),

        // Implementation details: our AVX-512 sgemm (C; only its functions use AVX-512, through
        // function attributes, so the library still loads on AVX2-only machines) and bindings to
        // the system libraries and calls Swift cannot reach (see the shim headers).
        // -O3 in debug builds too: at -O0 the micro-kernel keeps its accumulators in memory and the
        // debug test suite would crawl.
        .target(name: "CVolSegKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // DICOM through DCMTK (Debian libdcmtk-dev): a C++ file behind a C header, so Swift needs no
        // C++ interoperability. dcmseg writes Segmentation objects; dcmjpeg, dcmjpls and dcmdata's
        // RLE codec decode compressed pixel data.
        .target(name: "CDICOM", cxxSettings: [.unsafeFlags(["-O2"])],
                linkerSettings: ["dcmseg", "dcmfg", "dcmiod", "dcmjpls", "dcmjpeg", "dcmimage", "dcmimgle", "dcmdata",
                                 "oflog", "ofstd"].map { .linkedLibrary($0) }),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CNIfTI", path: "Sources/CNIfTI"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CFileSystem", path: "Sources/CFileSystem"),
        // Open MPI (Debian libopenmpi-dev); pkg-config's ompi-c gives its include folder.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),

        // Test helpers shared by the test targets: golden files, the shared data folder.
        .target(name: "VolSegTestSupport", dependencies: ["VolSegCore", "VolSegIO", "CZlib"],
                path: "Tests/VolSegTestSupport", swiftSettings: niftiInclude),
        .testTarget(name: "VolSegCoreTests", dependencies: ["VolSegCore", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegIOTests", dependencies: ["VolSegCore", "VolSegIO", "CZlib", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegNNTests", dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegModelsTests", dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegPreprocessingTests", dependencies: ["VolSegCore", "VolSegIO", "VolSegPreprocessing", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegEvaluationTests", dependencies: ["VolSegCore", "VolSegIO", "VolSegEvaluation", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegInferenceTests", dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing", "VolSegInference", "VolSegDatasets", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegTrainingTests", dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing", "VolSegEvaluation", "VolSegInference", "VolSegTraining", "VolSegDatasets", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegAdaptationTests", dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing", "VolSegEvaluation", "VolSegInference", "VolSegTraining", "VolSegAdaptation", "VolSegDatasets", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegNNUNetTests", dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegModels", "VolSegPreprocessing", "VolSegInference", "VolSegNNUNet", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegDistributedTests", dependencies: ["VolSegCore", "VolSegDistributed", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegDatasetsTests", dependencies: ["VolSegCore", "VolSegIO", "VolSegPreprocessing", "VolSegDatasets", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
        .testTarget(name: "VolSegCLITests", dependencies: ["VolSegCore", "VolSegIO", "VolSegNN", "VolSegTestSupport"],
                    swiftSettings: niftiInclude),
    ],
    swiftLanguageModes: [.v5],
    cxxLanguageStandard: .cxx17
)
