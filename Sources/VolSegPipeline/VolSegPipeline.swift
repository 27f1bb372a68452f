@_exported import VolSegModels

public enum VolSegVersion {
    public static let string = "0.1.0"
}
