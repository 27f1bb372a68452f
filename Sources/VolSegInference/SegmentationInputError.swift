import Foundation

/// Input that cannot be segmented: the file (or folder) and what is wrong with it.
public enum SegmentationInputError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// `-i` named nothing.
    case noInputFile
    /// `files` (their names) do not give one file per modality.
    case channelFileCount(path: String, files: [String], modalities: [String])
    /// A channel file holding several volumes.
    case multipleVolumes(path: String, volumes: Int, modalities: [String])
    /// A case folder without exactly one file for a modality; `matches` names the files that matched.
    case modalityFiles(folder: String, modality: String, channel: Int, matches: [String], images: [String], modalities: [String])
    case datasetModalities(folder: String, layout: String, datasetModalities: [String], modalities: [String])
    case imageChannels(path: String, channels: Int, modalities: [String])
    case outputNotWritable(path: String, folder: String)

    public var path: String {
        switch self {
        case .noInputFile: return "-i"
        case .channelFileCount(let p, _, _), .multipleVolumes(let p, _, _), .modalityFiles(let p, _, _, _, _, _),
             .datasetModalities(let p, _, _, _), .imageChannels(let p, _, _), .outputNotWritable(let p, _):
            return p
        }
    }

    public var problem: String {
        switch self {
        case .noInputFile:
            return "no input file given"
        case .channelFileCount(_, let files, let modalities):
            return "\(files.count) input file(s) given (" + files.joined(separator: ", ") + "); the model takes \(modalities.count) "
                + "channel(s), one file each, in the order \(modalities.joined(separator: ", "))"
        case .multipleVolumes(_, let volumes, let modalities):
            return "holds \(volumes) volumes; give one 3D file per "
                + "channel in the order \(modalities.joined(separator: ", ")), or the dataset folder"
        case .modalityFiles(_, let modality, let index, let matches, let images, let modalities):
            return (matches.isEmpty ? "no file" : "\(matches.count) files")
                + " for modality \(modality) (channel \(index)) among \(images); "
                + "name files ..._\(modality.lowercased()).nii.gz or ..._\(String(format: "%04d", index)).nii.gz, "
                + "or give them with -i in the order \(modalities.joined(separator: ", "))"
        case .datasetModalities(_, let layout, let datasetModalities, let modalities):
            return "a \(layout) dataset with modalities "
                + "\(datasetModalities.joined(separator: ", ")); the model takes \(modalities.joined(separator: ", "))"
        case .imageChannels(_, let channels, let modalities):
            return "has \(channels) channel(s); the model takes \(modalities.count) (\(modalities.joined(separator: ", ")))"
        case .outputNotWritable(_, let folder):
            return "cannot write here: folder \(folder) is missing or not writable"
        }
    }

    public var description: String { "\(path): \(problem)" }
    public var errorDescription: String? { description }
}
