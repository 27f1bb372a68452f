import ArgumentParser
import VolSegAdaptation
import VolSegBench
import VolSegCore
import VolSegDatasets
import VolSegEvaluation
import VolSegInference

// The library's fixed sets of values, read from the command line: each enum lives in the module
// that owns its concept, with raw values as the spellings; the command line adds only the parsing,
// here in one place, so `--help` lists the values and a wrong one is named with the choices.
extension AdaptationMethod: ExpressibleByArgument {}
extension AdaBN.Sampling: ExpressibleByArgument {}
extension AdaBN.Accumulation: ExpressibleByArgument {}
extension ScannerShift.Preset: ExpressibleByArgument {}
extension SyntheticDataset.Kind: ExpressibleByArgument {}
extension EvaluationLabel.Regions: ExpressibleByArgument {}
extension HD95Convention: ExpressibleByArgument {}
extension ASSDConvention: ExpressibleByArgument {}
extension EvaluationMetrics: ExpressibleByArgument {}
extension BraTSChallenge: ExpressibleByArgument {}
extension ComputePrecision: ExpressibleByArgument {}
extension Postprocessing: ExpressibleByArgument {}
extension UNetBenchmarkPhase: ExpressibleByArgument {}

extension MemorySize {
    /// `--memory-budget SIZE`, for every command that takes one (`transform:` rather than an
    /// `ExpressibleByArgument` conformance, whose failable init could not say what is wrong):
    /// the parser names the option and quotes the value, and `MemorySizeError` gives the reason.
    static let argument: @Sendable (String) throws -> MemorySize = { try MemorySize(parsing: $0) }
}
