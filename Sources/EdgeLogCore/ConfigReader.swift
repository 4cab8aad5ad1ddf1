/// Reads one object of a configuration document strictly: every key it is asked for is checked for type
/// and range, every key it was not asked for is reported as unknown, and every problem is collected
/// (never only the first) with its key path and a fix.
public struct ConfigReader {
    public let path: String
    private let members: [(String, JSONValue)]
    private var used: Set<String> = []
    public private(set) var diagnostics: [Diagnostic] = []

    /// `value` nil means the section is absent: every field takes its default.
    public init(path: String, value: JSONValue?) {
        self.path = path
        switch value {
        case .none, .some(.null):
            members = []
        case .some(.object(let m)):
            members = m
        case .some(let other):
            members = []
            diagnostics.append(
                Diagnostic(path: path.isEmpty ? "(document)" : path, problem: "is \(other.typeName)", fix: "give an object"))
        }
    }

    public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public mutating func report(_ key: String, _ problem: String, fix: String) {
        diagnostics.append(Diagnostic(path: keyPath(key), problem: problem, fix: fix))
    }

    /// The raw value of `key`, marking it as known. `null` counts as absent (merge-patch semantics).
    public mutating func raw(_ key: String) -> JSONValue? {
        used.insert(key)
        guard let value = members.last(where: { $0.0 == key })?.1 else { return nil }
        if case .null = value { return nil }
        return value
    }

    public mutating func bool(_ key: String, _ fallback: Bool) -> Bool {
        guard let value = raw(key) else { return fallback }
        guard let b = value.boolValue else {
            report(key, "is \(value.typeName)", fix: "use true or false")
            return fallback
        }
        return b
    }

    public mutating func int(
        _ key: String, _ fallback: Int64, min: Int64 = 0, max: Int64 = Int64.max, maxReason: String? = nil
    ) -> Int64 {
        guard let value = raw(key) else { return fallback }
        guard let i = value.intValue else {
            report(key, "is \(value.typeName.replacingNumber(value))", fix: "use a whole number from \(min) to \(max)")
            return fallback
        }
        return checkRange(key, i, fallback, min: min, max: max, maxReason: maxReason, describe: { "\($0)" })
    }

    public mutating func seconds(_ key: String, _ fallback: Double, min: Double, max: Double) -> Double {
        guard let value = raw(key) else { return fallback }
        let d: Double
        switch value {
        case .int(let i): d = Double(i)
        case .double(let x): d = x
        default:
            report(key, "is \(value.typeName)", fix: "use a number of seconds from \(min) to \(max)")
            return fallback
        }
        if d < min {
            report(key, "\(d) is under the minimum of \(min)", fix: "use at least \(min)")
            return fallback
        }
        if d > max {
            report(key, "\(d) is over the maximum of \(max)", fix: "use at most \(max)")
            return fallback
        }
        return d
    }

    public mutating func size(
        _ key: String, _ fallback: Int64, min: Int64 = 0, max: Int64 = Int64.max, maxReason: String? = nil
    ) -> Int64 {
        guard let value = raw(key) else { return fallback }
        let bytes: Int64
        switch value {
        case .int(let i): bytes = i
        case .double(let d) where d.rounded() == d: bytes = Int64(d)
        case .string(let s):
            guard let parsed = ByteSize.parse(s) else {
                report(key, "\"\(s)\" is not a size", fix: "use a number of bytes or a string like \"10MB\" or \"256MiB\"")
                return fallback
            }
            bytes = parsed
        default:
            report(key, "is \(value.typeName)", fix: "use a number of bytes or a string like \"10MB\" or \"256MiB\"")
            return fallback
        }
        return checkRange(key, bytes, fallback, min: min, max: max, maxReason: maxReason, describe: ByteSize.describe)
    }

    private mutating func checkRange(
        _ key: String, _ value: Int64, _ fallback: Int64, min: Int64, max: Int64, maxReason: String?,
        describe: (Int64) -> String
    ) -> Int64 {
        if value < min {
            report(key, "\(value) is under the minimum of \(describe(min))", fix: "use at least \(min)")
            return fallback
        }
        if value > max {
            report(key, "\(value) is over the \(maxReason ?? "maximum of \(describe(max))")", fix: "use at most \(max)")
            return fallback
        }
        return value
    }

    public mutating func string(_ key: String, _ fallback: String, allowEmpty: Bool = true) -> String {
        guard let value = raw(key) else { return fallback }
        guard let s = value.stringValue else {
            report(key, "is \(value.typeName)", fix: "give a string")
            return fallback
        }
        if !allowEmpty && s.isEmpty {
            report(key, "is empty", fix: "give a non-empty string")
            return fallback
        }
        return s
    }

    public mutating func choice(_ key: String, _ fallback: String, _ allowed: [String]) -> String {
        guard let value = raw(key) else { return fallback }
        let list = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
        guard let s = value.stringValue else {
            report(key, "is \(value.typeName)", fix: "use one of \(list)")
            return fallback
        }
        guard allowed.contains(s) else {
            report(key, "\"\(s)\" is not a known value", fix: "use one of \(list)")
            return fallback
        }
        return s
    }

    public mutating func strings(_ key: String, _ fallback: [String]) -> [String] {
        guard let value = raw(key) else { return fallback }
        guard let list = value.arrayValue else {
            report(key, "is \(value.typeName)", fix: "give a list of strings")
            return fallback
        }
        var result: [String] = []
        for (i, element) in list.enumerated() {
            if let s = element.stringValue {
                result.append(s)
            } else {
                report("\(key)[\(i)]", "is \(element.typeName)", fix: "give a string")
            }
        }
        return result
    }

    /// A list of objects at `key`, each read by `read` with a reader at `key[i]` (its unknown keys reported); nil
    /// when the key is absent. At most `max` elements are read, more are reported; a value that is not a list is
    /// reported with `fix`.
    public mutating func objects<T>(
        _ key: String, max: Int = .max, fix: String, _ read: (inout ConfigReader) -> T
    ) -> [T]? {
        guard let value = raw(key) else { return nil }
        guard let items = value.arrayValue else {
            report(key, "is \(value.typeName)", fix: fix)
            return nil
        }
        if items.count > max { report(key, "has \(items.count) rules", fix: "use at most \(max)") }
        return items.prefix(max).enumerated().map { (i, item) in
            var child = ConfigReader(path: keyPath("\(key)[\(i)]"), value: item)
            let parsed = read(&child)
            absorb(child)
            return parsed
        }
    }

    /// A reader for the nested object `key`; hand it back to `absorb` when done.
    public mutating func section(_ key: String) -> ConfigReader {
        ConfigReader(path: keyPath(key), value: raw(key))
    }

    /// Takes the diagnostics of a nested reader after reporting its unknown keys.
    public mutating func absorb(_ child: ConfigReader) {
        var child = child
        child.reportUnknownKeys()
        diagnostics.append(contentsOf: child.diagnostics)
    }

    /// The members no accessor has asked for yet.
    public func remainingMembers() -> [(String, JSONValue)] {
        members.filter { !used.contains($0.0) }
    }

    /// Reports every member that no accessor asked for.
    public mutating func reportUnknownKeys() {
        for (key, _) in members where !used.contains(key) {
            let known = used.sorted().joined(separator: ", ")
            report(key, "is not a known key", fix: known.isEmpty ? "remove it" : "remove it or use one of: \(known)")
        }
        used.formUnion(members.map(\.0))
    }
}

extension String {
    fileprivate func replacingNumber(_ value: JSONValue) -> String {
        if case .double(let d) = value { return "\(d), not a whole number" }
        return self
    }
}
