/// The `resampling_fn_*_kwargs` of a plans configuration: nnU-Net's `resample_data_or_seg_to_shape`
/// with a spline order, the order along a separately resampled low-resolution axis, and whether
/// that separate axis is forced (true), forbidden (false) or chosen from the spacing (nil).
public struct NNUNetResamplingSettings: Equatable, Sendable {
    public var order: Int
    public var orderZ: Int
    public var forceSeparateZ: Bool?

    public init(order: Int, orderZ: Int, forceSeparateZ: Bool?) {
        self.order = order
        self.orderZ = orderZ
        self.forceSeparateZ = forceSeparateZ
    }

    /// Reads `<function>` and `<function>_kwargs`; only nnU-Net's default function is known.
    static func read(_ json: NNUNetJSON, function key: String) throws -> NNUNetResamplingSettings {
        let name = try json.string(key)
        guard name == "resample_data_or_seg_to_shape" else {
            throw NNUNetError.unsupported(path: json.path, what: "\(json.field(key)) \"\(name)\" (only resample_data_or_seg_to_shape)")
        }
        let kwargs = try json.child(key + "_kwargs")
        let settings = NNUNetResamplingSettings(order: try kwargs.int("order"), orderZ: try kwargs.int("order_z"),
                                                forceSeparateZ: try kwargs.optionalBool("force_separate_z"))
        guard (0...5).contains(settings.order), (0...5).contains(settings.orderZ) else {
            throw kwargs.fail("order", "spline orders must be 0 to 5, got \(settings.order) and \(settings.orderZ)")
        }
        return settings
    }
}
