/// A JSON document that keeps the order of object members and tells integers from fractions.
/// Used for configuration (file and twin), checkpoints and container metadata; the hot path
/// (Docker lines, record encoding) has its own byte-level code.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(a) == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            if a.count > 32 {
                // Large objects through a table (a search per member would be quadratic).
                var table: [String: JSONValue] = [:]
                for (key, value) in b where table[key] == nil { table[key] = value }
                return a.allSatisfy { table[$0.0] == $0.1 }
            }
            for (key, value) in a {
                guard let other = b.first(where: { $0.0 == key }), other.1 == value else { return false }
            }
            return true
        default: return false
        }
    }

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var objectValue: [(String, JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The JSON type name used in error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    /// RFC 7396 merge patch: objects merge member by member, `null` removes a member, anything else replaces.
    /// Linear in the sizes of both documents (a member is found through a table, not by a search), so a patch of
    /// tens of thousands of members costs milliseconds. A member given twice counts once: the first position, the
    /// last value (as `subscript` reads it).
    public func merging(patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var members: [(String, JSONValue)?] = []
        var index: [String: Int] = [:]
        for (key, value) in objectValue ?? [] {
            if let i = index[key] {
                members[i] = (key, value)
            } else {
                index[key] = members.count
                members.append((key, value))
            }
        }
        for (key, value) in patchMembers {
            let i = index[key]
            if case .null = value {
                if let i {
                    members[i] = nil
                    index[key] = nil
                }
            } else if let i, let existing = members[i] {
                members[i] = (key, existing.1.merging(patch: value))
            } else {
                index[key] = members.count
                members.append((key, JSONValue.null.merging(patch: value)))
            }
        }
        return .object(members.compactMap { $0 })
    }

    /// Object members and array elements at every depth: what a document costs to hold and to check.
    public var memberCount: Int {
        switch self {
        case .object(let members): return members.reduce(members.count) { $0 + $1.1.memberCount }
        case .array(let elements): return elements.reduce(elements.count) { $0 + $1.memberCount }
        default: return 0
        }
    }
}
