/// The source-free adaptations on offer (`volseg adapt --method`); the raw values are the
/// spellings the command line and a checkpoint's provenance use.
public enum AdaptationMethod: String, Sendable, CaseIterable {
    /// Every weight kept, every BatchNorm's running statistics re-estimated (`AdaBN`).
    case adabn
    /// Decaying-momentum statistics with entropy-tuned BatchNorm scale and shift (`ProgressiveAdaptation`).
    case progressive
}
