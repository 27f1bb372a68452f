import Foundation

/// A coded concept (code value, coding scheme, meaning), as DICOM's code sequences hold it.
public struct DICOMCode: Equatable, Sendable, CustomStringConvertible {
    public let value: String, scheme: String, meaning: String

    public init(_ value: String, _ scheme: String, _ meaning: String) {
        self.value = value
        self.scheme = scheme
        self.meaning = meaning
    }

    public var description: String { "(\(value), \(scheme), \"\(meaning)\")" }
}

/// The Segmented Property Category and Type a segment is coded with in a DICOM Segmentation,
/// chosen from its label name by a small SNOMED CT table (DICOM CID 7150 categories, CID 7151
/// types). Names no entry matches are coded Tissue / Tissue (SCT 85756007), which every viewer
/// accepts; the segment's own name always travels as its SegmentLabel.
public enum DICOMSegmentCodes {
    static let anatomicalStructure = DICOMCode("91723000", "SCT", "Anatomical Structure")
    static let abnormalStructure = DICOMCode("49755003", "SCT", "Morphologically Abnormal Structure")
    public static let tissue = DICOMCode("85756007", "SCT", "Tissue")

    /// Words in a label name and their codes, most specific first: "necrotic tumour core" is
    /// necrosis and "peritumoral edema" oedema, not tumour; "liver tumour" is a neoplasm, not liver.
    static let table: [(words: [String], category: DICOMCode, type: DICOMCode)] = [
        (["necro"], abnormalStructure, DICOMCode("6574001", "SCT", "Necrosis")),
        (["edema", "oedema"], abnormalStructure, DICOMCode("79654002", "SCT", "Edema")),
        (["hemorrhage", "haemorrhage", "bleed"], abnormalStructure, DICOMCode("50960005", "SCT", "Hemorrhage")),
        (["cyst"], abnormalStructure, DICOMCode("367643001", "SCT", "Cyst")),
        (["tumour", "tumor", "neoplasm", "cancer", "metasta"], abnormalStructure, DICOMCode("108369006", "SCT", "Neoplasm")),
        (["lesion"], abnormalStructure, DICOMCode("52988006", "SCT", "Lesion")),
        (["mass"], abnormalStructure, DICOMCode("4147007", "SCT", "Mass")),
        (["liver"], anatomicalStructure, DICOMCode("10200004", "SCT", "Liver")),
        (["kidney", "renal"], anatomicalStructure, DICOMCode("64033007", "SCT", "Kidney")),
        (["spleen"], anatomicalStructure, DICOMCode("78961009", "SCT", "Spleen")),
        (["pancreas"], anatomicalStructure, DICOMCode("15776009", "SCT", "Pancreas")),
        (["gallbladder"], anatomicalStructure, DICOMCode("28231008", "SCT", "Gallbladder")),
        (["stomach"], anatomicalStructure, DICOMCode("69695003", "SCT", "Stomach")),
        (["esophagus", "oesophagus"], anatomicalStructure, DICOMCode("32849002", "SCT", "Esophagus")),
        (["duodenum"], anatomicalStructure, DICOMCode("38848004", "SCT", "Duodenum")),
        (["colon"], anatomicalStructure, DICOMCode("71854001", "SCT", "Colon")),
        (["bladder"], anatomicalStructure, DICOMCode("89837001", "SCT", "Bladder")),
        (["adrenal"], anatomicalStructure, DICOMCode("23451007", "SCT", "Adrenal gland")),
        (["portal vein"], anatomicalStructure, DICOMCode("32764006", "SCT", "Portal vein")),
        (["aorta"], anatomicalStructure, DICOMCode("15825003", "SCT", "Aorta")),
        (["heart"], anatomicalStructure, DICOMCode("80891009", "SCT", "Heart")),
        (["lung"], anatomicalStructure, DICOMCode("39607008", "SCT", "Lung")),
        (["prostate"], anatomicalStructure, DICOMCode("41216001", "SCT", "Prostate")),
        (["vertebra"], anatomicalStructure, DICOMCode("51282000", "SCT", "Vertebra")),
        (["bone"], anatomicalStructure, DICOMCode("272673000", "SCT", "Bone")),
        (["brain"], anatomicalStructure, DICOMCode("12738006", "SCT", "Brain")),
    ]

    /// The category and type for a label name.
    public static func codes(for name: String) -> (category: DICOMCode, type: DICOMCode) {
        let lowered = name.lowercased().replacingOccurrences(of: "_", with: " ")
        for entry in table where entry.words.contains(where: { lowered.contains($0) }) {
            return (entry.category, entry.type)
        }
        return (tissue, tissue)
    }
}
