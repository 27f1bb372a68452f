// swift-tools-version:6.0
import PackageDescription

// libFuzzer harnesses for VolSeg's readers of untrusted files (`make fuzz`). A package of its own,
// so that `swift build` of VolSeg never sees them: they are built with -sanitize=fuzzer,address
// and -parse-as-library (libFuzzer supplies main), which the product must not be.
let package = Package(
    name: "VolSegFuzz",
    dependencies: [.package(name: "VolSeg", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzNIfTI", dependencies: ["FuzzSupport", .product(name: "VolSeg", package: "VolSeg")],
                          swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]),
        .executableTarget(name: "FuzzPipelineYAML", dependencies: ["FuzzSupport", .product(name: "VolSeg", package: "VolSeg")],
                          swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]),
        .executableTarget(name: "FuzzCheckpoint", dependencies: ["FuzzSupport", .product(name: "VolSeg", package: "VolSeg")],
                          swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]),
        .executableTarget(name: "FuzzTorchCheckpoint", dependencies: ["FuzzSupport", .product(name: "VolSeg", package: "VolSeg")],
                          swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]),
    ],
    swiftLanguageModes: [.v5]
)
