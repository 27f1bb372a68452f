/// The reference's three training stages of H-DenseUNet.
public enum HDenseUNetStage: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// Stage 1: the 2D DenseUNet alone (on slices with their neighbours); `forward` returns its
    /// scores stacked into a volume. The 3D network and the fusion are frozen (unused).
    case twoD = 1
    /// Stage 2: the 3D DenseUNet and the fusion train; the 2D network is frozen (no gradients, no
    /// optimizer state) with its BatchNorm in evaluation mode (running statistics fixed).
    case hybridFrozen2D = 2
    /// Stage 3: end to end. Every parameter trains, including the 2D network's BN scale and shift;
    /// the 2D BatchNorm stays in evaluation mode as in the reference (`hybridnet.py` calls every
    /// 2D BatchNormalization with `training=False`): a batch of one slab's neighbouring slices is
    /// too correlated to re-estimate the statistics learned in stage 1.
    case endToEnd = 3

    public var description: String {
        switch self {
        case .twoD: return "stage 1 (2D DenseUNet)"
        case .hybridFrozen2D: return "stage 2 (3D DenseUNet + fusion, 2D frozen)"
        case .endToEnd: return "stage 3 (end to end)"
        }
    }
}

extension HDenseUNet {
    /// Switches what `forward` computes and which parts train, for training in `stage`. Sets
    /// training mode on the parts that train; call `eval()` afterwards for validation, and this
    /// again (or `train()`) to resume: `forward` keeps the 2D network in evaluation mode in stages 2
    /// and 3 even after a blanket `train()`.
    ///
    /// Build the optimizer from `trainableParameters` after this call: frozen parameters get no
    /// gradient, so they would get no optimizer state anyway, but they are then not even listed.
    public func setTrainingStage(_ stage: HDenseUNetStage) {
        trainingStage = stage
        train()
        switch stage {
        case .twoD:
            dense2d.freeze(false)
            dense3d.freeze()
            fusion.freeze()
        case .hybridFrozen2D:
            dense2d.freeze()
            dense3d.freeze(false)
            fusion.freeze(false)
        case .endToEnd:
            freeze(false)
        }
        enforceStageModes()
    }

    /// In stages 2 and 3 the 2D network never runs with batch statistics, whatever `train()` did.
    func enforceStageModes() {
        if trainingStage != .twoD && dense2d.isTraining { dense2d.eval() }
    }
}
