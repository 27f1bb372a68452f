import Foundation

/// The `dataset.json` of an MSD task or an nnU-Net raw dataset, parsed loosely (JSONSerialization)
/// so that a malformed file becomes a dataset problem naming the key, not a decoding crash.
struct DatasetJSON {
    let url: URL
    let object: [String: Any]

    enum Failure: Error { case malformed(String) }

    static func load(_ folder: URL) -> Result<DatasetJSON, DatasetProblem> {
        let url = folder.appendingPathComponent("dataset.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            return .failure(DatasetProblem(caseID: nil, file: url.path, problem: "dataset.json is missing or unreadable"))
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return .failure(DatasetProblem(caseID: nil, file: url.path, problem: "malformed dataset.json: not a JSON object"))
        }
        return .success(DatasetJSON(url: url, object: object))
    }

    func problem(_ text: String) -> DatasetProblem {
        DatasetProblem(caseID: nil, file: url.path, problem: "malformed dataset.json: \(text)")
    }

    /// {"0": "FLAIR", "1": "T1w"} -> ["FLAIR", "T1w"] in index order.
    func indexedNames(_ key: String) throws -> [String] {
        guard let table = object[key] as? [String: Any], !table.isEmpty else {
            throw Failure.malformed("\"\(key)\" is missing or not an object of index -> name")
        }
        var names = [String](repeating: "", count: table.count)
        for (index, value) in table {
            guard let i = Int(index), i >= 0, i < table.count, let name = value as? String else {
                throw Failure.malformed("\"\(key)\" entry \"\(index)\": \(value) is not index -> name with indices 0..<\(table.count)")
            }
            names[i] = name
        }
        return names
    }

    func int(_ key: String) -> Int? { object[key] as? Int }
}
