import Foundation
import VolSegModels

/// H-DenseUNet's one memory switch, recomputing every dense layer in backward, offered to the
/// planner as a recomputable stage named `dense_layers`.
extension HDenseUNet: RecomputableStages {
    public var stageNames: [String] { ["dense_layers"] }
    public var recomputedStages: Set<String> {
        get { recomputesDenseLayers ? ["dense_layers"] : [] }
        set { recomputesDenseLayers = newValue.contains("dense_layers") }
    }
}
