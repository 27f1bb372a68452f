import Foundation
import VolSegCore
import VolSegIO
import VolSegModels
import VolSegNN

/// An nnU-Net v2 trained-model folder (`<trainer>__<plans>__<configuration>/` with `dataset.json`,
/// `plans.json` and `fold_K/checkpoint_final.pth`), opened for inference: the plans'
/// configuration, the labels, and one network state per fold.
///
/// Folds: nnU-Net's `-f` defaults to 0 1 2 3 4 and fails when one is missing; here the default is
/// every `fold_*` that holds the checkpoint (all five in a complete folder, so the same answer),
/// and the log names them. Logits are averaged over the folds, as nnU-Net averages them.
public struct NNUNetModelFolder {
    public let url: URL
    public let plans: NNUNetPlans
    public let configuration: NNUNetConfiguration
    public let labels: NNUNetLabels
    public let trainerName: String
    public let folds: [String]
    /// The network with the first fold's weights; `foldStates` holds every fold's.
    public let network: DynamicUNet
    public let foldStates: [[String: Tensor]]
    /// Axes (of the network's spatial input, 0-based) mirrored at test time; nil: no mirroring
    /// (the checkpoint's `inference_allowed_mirroring_axes`).
    public let mirrorAxes: [Int]?

    public static let defaultCheckpoint = "checkpoint_final.pth"

    public static func open(_ url: URL, folds requested: [String]? = nil,
                            checkpoint: String = NNUNetModelFolder.defaultCheckpoint) throws -> NNUNetModelFolder {
        let folder = url.standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw NNUNetError.missingFile(path: folder.path, what: "an nnU-Net v2 trained-model folder")
        }
        let manager = FileManager.default
        if !manager.fileExists(atPath: folder.appendingPathComponent("plans.json").path),
           manager.fileExists(atPath: folder.appendingPathComponent("plans.pkl").path) {
            throw NNUNetError.versionOneFolder(folder: folder.path)
        }
        let plans = try NNUNetPlans.read(folder.appendingPathComponent("plans.json"))
        let labels = try NNUNetLabels.read(folder.appendingPathComponent("dataset.json"))
        let folds = try requested ?? availableFolds(in: folder, checkpoint: checkpoint)
        guard !folds.isEmpty else { throw NNUNetError.noFolds(folder: folder.path, checkpoint: checkpoint) }
        var states: [[String: Tensor]] = []
        var trainer = "", configurationName = "", mirrorAxes: [Int]? = nil
        for (i, fold) in folds.enumerated() {
            let file = folder.appendingPathComponent("fold_\(fold)").appendingPathComponent(checkpoint)
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw NNUNetError.missingFold(folder: folder.path, fold: fold, checkpoint: checkpoint)
            }
            let read = try NNUNetCheckpoint.read(file)
            if i == 0 {
                trainer = read.trainerName
                configurationName = read.configuration
                mirrorAxes = read.mirrorAxes
            } else if read.configuration != configurationName {
                throw NNUNetError.checkpoint(path: file.path, problem: "was trained for configuration \"\(read.configuration)\", fold \(folds[0]) for \"\(configurationName)\"")
            }
            states.append(read.weights)
        }
        let configuration = try plans.configuration(configurationName)
        var architecture = configuration.architecture
        architecture.inputChannels = labels.inputChannelCount
        architecture.classCount = labels.output.channelCount
        let network = DynamicUNet(architecture, initializer: ParameterInitializer(seed: 0))
        // Every fold is checked against the network here, so switching folds later cannot fail;
        // the first fold's weights are loaded last.
        for index in states.indices.reversed() {
            let file = folder.appendingPathComponent("fold_\(folds[index])").appendingPathComponent(checkpoint)
            do {
                try network.load(state: states[index])
            } catch let error as StateLoadError {
                throw NNUNetError.weightsDoNotFit(path: file.path, problem: error.description)
            }
        }
        let first = folder.appendingPathComponent("fold_\(folds[0])").appendingPathComponent(checkpoint)
        if let axes = mirrorAxes, let bad = axes.first(where: { $0 < 0 || $0 >= configuration.patchSize.count }) {
            throw NNUNetError.checkpoint(path: first.path, problem: "inference_allowed_mirroring_axes has axis \(bad) for a \(configuration.patchSize.count)D patch")
        }
        network.eval()
        return NNUNetModelFolder(url: folder, plans: plans, configuration: configuration, labels: labels,
                                 trainerName: trainer, folds: folds, network: network, foldStates: states,
                                 mirrorAxes: mirrorAxes)
    }

    /// `fold_*` subfolders holding `checkpoint`, numbered folds in order, then `all`.
    public static func availableFolds(in folder: URL, checkpoint: String) throws -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let folds = names.filter { $0.hasPrefix("fold_") }.map { String($0.dropFirst(5)) }.filter { fold in
            FileManager.default.fileExists(atPath: folder.appendingPathComponent("fold_\(fold)/\(checkpoint)").path)
        }
        return folds.sorted { (Int($0) ?? Int.max, $0) < (Int($1) ?? Int.max, $1) }
    }

    /// nnU-Net's `-d DATASET -c CONFIG [-tr TRAINER] [-p PLANS]`: the folder
    /// `$nnUNet_results/DatasetNNN_Name/TRAINER__PLANS__CONFIG`. DATASET is the id (3 or 003) or
    /// the full name.
    public static func resolve(dataset: String, configuration: String, trainer: String = "nnUNetTrainer",
                               plans: String = "nnUNetPlans", results: String?) throws -> URL {
        guard let results, !results.isEmpty else {
            throw NNUNetError.datasetNotFound(results: "$nnUNet_results (not set)", dataset: dataset)
        }
        let root = URL(fileURLWithPath: results)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        let match: String?
        if let id = Int(dataset) {
            let prefix = String(format: "Dataset%03d_", id)
            match = names.sorted().first { $0.hasPrefix(prefix) }
        } else {
            match = names.contains(dataset) ? dataset : nil
        }
        guard let match else { throw NNUNetError.datasetNotFound(results: root.path, dataset: dataset) }
        let folder = root.appendingPathComponent(match).appendingPathComponent("\(trainer)__\(plans)__\(configuration)")
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw NNUNetError.missingFile(path: folder.path, what: "the trained model for -tr \(trainer) -p \(plans) -c \(configuration)")
        }
        return folder
    }

    /// Loads fold `index`'s weights into `network` (`open` checked that every fold fits).
    public func useFold(_ index: Int) {
        try! network.load(state: foldStates[index])
    }
}
