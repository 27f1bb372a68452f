import Foundation
import VolSegCore
import VolSegIO

/// `volseg view`: the report's viewer for one case, in one self-contained file (the case's data
/// inline), to look at a segmentation without evaluating it.
public enum CaseViewPage {
    /// `image` ([C, D, H, W] on `header`'s grid) with `layers` (reference, prediction) on the same
    /// grid; `labelNames` names the legend's values.
    public static func html(title: String, caseName: String, header: NIfTIHeader, image: Tensor?, channelNames: [String], isCT: Bool,
                            layers: [(name: String, labels: NIfTIVolume)], labelNames: [Int: String] = [:],
                            maximumSize: Int = ViewerVolume.defaultMaximumSize) throws -> String {
        let viewer = try ViewerVolume(header: header, image: image, channelNames: channelNames, isCT: isCT, layers: layers,
                                      maximumSize: maximumSize)
        let id = caseName
        let data: [String: Any] = [
            "title": title, "table": false, "conventions": "", "labels": [], "means": [], "globalDice": [], "omitted": 0,
            "labelNames": Dictionary(uniqueKeysWithValues: labelNames.map { (String($0.key), $0.value) }),
            "cases": [["id": id, "scores": [], "viewer": NSNull()] as [String: Any]],
            "inline": [id: try viewer.payload(id: id)],
        ]
        return ReportPage.html(title: title, data: ReportPage.json(data))
    }
}
