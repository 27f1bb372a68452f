import Foundation

/// Finds which layout a dataset folder uses, from names alone (no file is opened but dataset.json).
public enum DatasetDetector {
    public struct UnknownLayout: Error, CustomStringConvertible {
        public let path: String
        public var description: String {
            "\(path): not a dataset folder VolSeg knows (BraTS 2020/2021/2023 case folders, an MSD task or "
                + "nnU-Net raw dataset with dataset.json and imagesTr/, or LiTS volume-N.nii files)"
        }
    }

    public static func detect(_ folder: URL) throws -> any DatasetLayout {
        guard isDirectory(folder) else { throw UnknownLayout(path: folder.path) }
        let contents = sortedContents(folder)
        let names = Set(contents.map(\.lastPathComponent))
        if names.contains("dataset.json") || names.contains("imagesTr") {
            return isMSD(folder) ? MSDLayout(folder: folder) : NNUNetLayout(folder: folder)
        }
        let releases = contents.filter(isDirectory).compactMap { BraTSLayout.release(ofCaseFolder: $0.lastPathComponent) }
        if !releases.isEmpty {
            // The more common release wins; a mixed folder reports the other release's cases nowhere.
            let newer = releases.filter { $0 == .brats2023 }.count
            return BraTSLayout(folder: folder, release: newer * 2 > releases.count ? .brats2023 : .brats2021)
        }
        let lits = LiTSLayout(folder: folder)
        if lits.candidateFiles().contains(where: { LiTSLayout.number($0.lastPathComponent, prefix: "volume-") != nil
                                                  || LiTSLayout.number($0.lastPathComponent, prefix: "segmentation-") != nil }) {
            return lits
        }
        throw UnknownLayout(path: folder.path)
    }

    /// MSD tasks list their cases under "training" and name modalities under "modality"; nnU-Net v2
    /// uses "channel_names" and "file_ending". A dataset.json that does not parse is judged by the
    /// folder name (TaskXX_ is the MSD's, DatasetXXX_ nnU-Net's).
    static func isMSD(_ folder: URL) -> Bool {
        if case .success(let json) = DatasetJSON.load(folder) {
            if json.object["channel_names"] != nil || json.object["file_ending"] != nil { return false }
            if json.object["training"] != nil { return true }
        }
        return folder.lastPathComponent.hasPrefix("Task")
    }
}
