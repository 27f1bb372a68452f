/// The naming rules for NIfTI files in folders, shared by every command that lists a folder
/// (segment's inputs, evaluate's predictions and references, adapt's targets).
public enum NIfTIFileName {
    /// The extensions libnifti reads, longest first so `.nii.gz` wins over `.nii`.
    public static let extensions = [".nii.gz", ".nii", ".hdr.gz", ".hdr"]

    /// The name without its NIfTI extension; nil for other files and for hidden files (the
    /// temporary `.volseg-*` files an interrupted run leaves are never inputs).
    public static func stem(_ name: String) -> String? {
        if name.hasPrefix(".") { return nil }
        for ext in extensions where name.hasSuffix(ext) && name.count > ext.count {
            return String(name.dropLast(ext.count))
        }
        return nil
    }

    /// Label maps beside the images (`_seg`, `segmentation-3`, `label`, `mask`) are not inputs.
    public static func isLabelName(_ stem: String) -> Bool {
        let lowered = stem.lowercased()
        let last = lastToken(lowered)
        return last == "seg" || last == "label" || last == "labels" || last == "mask" || lowered.hasPrefix("segmentation")
    }

    /// The last `_`, `-` or `.` separated token of a stem (`BraTS2021_00000_flair` -> `flair`).
    public static func lastToken(_ stem: String) -> String {
        String(stem.split(whereSeparator: { $0 == "_" || $0 == "-" || $0 == "." }).last ?? Substring(stem))
    }
}
