/// The version every output that records provenance (checkpoints, reports) names.
public enum VolSegVersion {
    public static let string = "0.1.0"
}
