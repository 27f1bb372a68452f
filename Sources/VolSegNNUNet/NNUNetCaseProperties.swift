import VolSegPreprocessing

/// What nnU-Net's preprocessing records about a case to undo it at export (its `properties`
/// dict): the spacing as read, the shape before cropping, the crop box and the shape after it.
/// Shapes and the box are in the plans' transposed axis order; `spacing` is in the image's
/// (z, y, x) order, untransposed, as nnU-Net stores it.
public struct NNUNetCaseProperties: Equatable, Sendable {
    public var spacing: [Double]
    public var shapeBeforeCropping: [Int]
    public var crop: NonzeroCrop
    public var shapeAfterCropping: [Int] { crop.croppedShape }

    public init(spacing: [Double], shapeBeforeCropping: [Int], crop: NonzeroCrop) {
        self.spacing = spacing
        self.shapeBeforeCropping = shapeBeforeCropping
        self.crop = crop
    }

    /// The spacing in the plans' axis order.
    public func transposedSpacing(_ plans: NNUNetPlans) -> [Double] { plans.transposeForward.map { spacing[$0] } }
}
