/// One rule of the `filters` section.
public struct FilterRule: Sendable, Equatable {
    public var match = FilterMatch()
    /// Keep records whose `Level` is at most this: 0 (emerg) … 7 (debug); 4 keeps warnings and worse.
    public var maxLevel: Int64 = 7
    /// Regular expressions on the message: a record matching any of them is dropped.
    public var drop: [String] = []
    /// Regular expressions on the message: when given, a record must match one of them to be kept.
    public var keep: [String] = []
    /// Lines per second per module (or journal unit), the excess dropped; nil for no limit.
    public var rateLimit: RateLimitSettings?

    static let maxPatterns = 64

    public init(
        match: FilterMatch = FilterMatch(), maxLevel: Int64 = 7, drop: [String] = [], keep: [String] = [],
        rateLimit: RateLimitSettings? = nil
    ) {
        self.match = match
        self.maxLevel = maxLevel
        self.drop = drop
        self.keep = keep
        self.rateLimit = rateLimit
    }

    init(reading r: inout ConfigReader) {
        var m = r.section("match")
        match = FilterMatch(reading: &m)
        r.absorb(m)
        maxLevel = Self.readLevel(&r, "maxLevel", fallback: maxLevel)
        drop = Self.readPatterns(&r, "drop")
        keep = Self.readPatterns(&r, "keep")
        if r.raw("rateLimit") != nil {
            var limit = r.section("rateLimit")
            rateLimit = RateLimitSettings(reading: &limit)
            r.absorb(limit)
        }
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("match", match.json),
            ("maxLevel", .int(maxLevel)),
            ("drop", .array(drop.map(JSONValue.string))),
            ("keep", .array(keep.map(JSONValue.string))),
        ]
        if let rateLimit { members.append(("rateLimit", rateLimit.json)) }
        return .object(members)
    }

    /// A level as a number 0…7 or a syslog name (`err`, `warning`, `info`, …), like `journal.maxPriority`.
    static func readLevel(_ r: inout ConfigReader, _ key: String, fallback: Int64) -> Int64 {
        if case .string(let name)? = r.raw(key) {
            if let value = JournalSettings.priorityNames.firstIndex(of: name.lowercased()) { return Int64(value) }
            let names = JournalSettings.priorityNames.map { "\"\($0)\"" }.joined(separator: ", ")
            r.report(key, "\"\(name)\" is not a level", fix: "use a number from 0 (emerg) to 7 (debug) or one of \(names)")
            return fallback
        }
        return r.int(key, fallback, min: 0, max: 7)
    }

    /// A list of regular expressions, each compiled now so a bad one is reported with its key path.
    static func readPatterns(_ r: inout ConfigReader, _ key: String) -> [String] {
        let patterns = r.strings(key, [])
        if patterns.count > maxPatterns {
            r.report(key, "has \(patterns.count) patterns", fix: "use at most \(maxPatterns), or combine them with |")
        }
        for (i, pattern) in patterns.enumerated() {
            if let problem = regexProblem(pattern) { r.report("\(key)[\(i)]", problem.0, fix: problem.1) }
        }
        return Array(patterns.prefix(maxPatterns))
    }

    /// What is wrong with `pattern` as a regular expression, and how to fix it; nil if it compiles.
    static func regexProblem(_ pattern: String) -> (String, String)? {
        do {
            _ = try Regex(pattern)
            return nil
        } catch {
            return (
                "\(Self.quoted(pattern)) is not a supported regular expression: \(error)",
                "use literals, ., [classes], \\d \\w \\s \\b, ^ $, groups, |, * + ? {m,n} and (?i) (see docs/filters.md)"
            )
        }
    }

    static func quoted(_ s: String) -> String {
        s.count > 80 ? "\"\(s.prefix(77))...\"" : "\"\(s)\""
    }
}
