import Foundation

/// Typed reads from a JSON object of an nnU-Net file, each failure a `badPlans` naming the file and
/// the field.
struct NNUNetJSON {
    let object: [String: Any]
    let path: String
    /// Where the object sits in the file, for messages ("configurations.3d_fullres").
    let prefix: String

    static func read(_ url: URL, what: String) throws -> NNUNetJSON {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw NNUNetError.missingFile(path: url.path, what: what)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw NNUNetError.unreadableJSON(path: url.path, reason: "is not a JSON object (\(what))")
        }
        return NNUNetJSON(object: object, path: url.path, prefix: "")
    }

    func field(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    func fail(_ key: String, _ problem: String) -> NNUNetError {
        .badPlans(path: path, field: field(key), problem: problem)
    }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    func child(_ key: String) throws -> NNUNetJSON {
        guard let inner = object[key] as? [String: Any] else { throw fail(key, "missing or not an object") }
        return NNUNetJSON(object: inner, path: path, prefix: field(key))
    }

    func string(_ key: String) throws -> String {
        guard let value = object[key] as? String else { throw fail(key, "missing or not a string") }
        return value
    }

    func bool(_ key: String, default fallback: Bool? = nil) throws -> Bool {
        guard let raw = object[key], !(raw is NSNull) else {
            if let fallback { return fallback }
            throw fail(key, "missing")
        }
        guard let number = raw as? NSNumber, NNUNetJSON.isBoolean(number) else {
            throw fail(key, "not true or false: \(raw)")
        }
        return number.boolValue
    }

    /// true, false or null.
    func optionalBool(_ key: String) throws -> Bool? {
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        return try bool(key)
    }

    func int(_ key: String) throws -> Int { try NNUNetJSON.integer(object[key], fail(key, "missing or not an integer")) }

    func double(_ key: String) throws -> Double {
        guard let number = object[key] as? NSNumber, !NNUNetJSON.isBoolean(number),
              number.doubleValue.isFinite else { throw fail(key, "missing or not a finite number") }
        return number.doubleValue
    }

    func ints(_ key: String) throws -> [Int] {
        guard let list = object[key] as? [Any] else { throw fail(key, "missing or not a list") }
        return try list.map { try NNUNetJSON.integer($0, fail(key, "not a list of integers")) }
    }

    func doubles(_ key: String) throws -> [Double] {
        guard let list = object[key] as? [NSNumber], list.allSatisfy({ $0.doubleValue.isFinite }) else {
            throw fail(key, "missing or not a list of numbers")
        }
        return list.map(\.doubleValue)
    }

    func intLists(_ key: String) throws -> [[Int]] {
        guard let list = object[key] as? [Any] else { throw fail(key, "missing or not a list of lists") }
        return try list.map { item in
            guard let inner = item as? [Any] else { throw fail(key, "not a list of lists of integers") }
            return try inner.map { try NNUNetJSON.integer($0, fail(key, "not a list of lists of integers")) }
        }
    }

    func strings(_ key: String) throws -> [String] {
        guard let list = object[key] as? [String] else { throw fail(key, "missing or not a list of strings") }
        return list
    }

    func bools(_ key: String) throws -> [Bool] {
        guard let list = object[key] as? [NSNumber], list.allSatisfy(NNUNetJSON.isBoolean) else {
            throw fail(key, "missing or not a list of true/false")
        }
        return list.map(\.boolValue)
    }

    /// JSONSerialization gives true and false as NSNumbers made from Bool (type code "c"), which
    /// `as? Bool` cannot tell from the integers 0 and 1.
    static func isBoolean(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    static func integer(_ raw: Any?, _ failure: NNUNetError) throws -> Int {
        guard let number = raw as? NSNumber, !NNUNetJSON.isBoolean(number),
              Double(number.intValue) == number.doubleValue else { throw failure }
        return number.intValue
    }
}
