/// The `journal` section: host logs from journald through libsystemd's sd-journal API.
public struct JournalSettings: Sendable, Equatable {
    /// Collect journal entries at all.
    public var enabled = false
    /// The journal folder (the host's, mounted read-only): `/var/log/journal`, or `/run/log/journal` for volatile
    /// journals. Its `*.journal` files and machine-id subfolders are read, whatever this machine's id is.
    public var directory = "/var/log/journal"
    /// Explicit journal files to read instead of `directory`; empty means use `directory`.
    public var files: [String] = []
    /// Units to collect (`_SYSTEMD_UNIT`; a name without a suffix gets `.service`); empty means all.
    public var units: [String] = []
    /// Syslog identifiers to collect (`SYSLOG_IDENTIFIER`); empty means all. Combined with `units` by OR.
    public var identifiers: [String] = []
    /// Highest syslog priority kept, 0 (emerg) … 7 (debug); an entry without PRIORITY counts as 6 (info).
    public var maxPriority: Int64 = 6
    /// Where to start the first time (no saved cursor yet): `end` (only new entries) or `beginning`.
    public var readFrom = "end"
    /// Journal fields copied to `Extra` (`*` and `?` globs, `!` in front excludes; `["*"]` for all).
    public var extraFields = ["_PID", "_HOSTNAME", "_BOOT_ID", "_TRANSPORT", "CONTAINER_NAME", "CONTAINER_ID"]
    /// Longest value kept of one field (MESSAGE included); longer values are cut and counted.
    public var maxFieldBytes: Int64 = 64 << 10
    /// Longest wait for new entries before looking anyway, and the retry interval for a missing journal.
    public var pollIntervalSeconds: Double = 1

    /// Syslog's priority names, by value.
    public static let priorityNames = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]

    public init() {}

    init(reading r: inout ConfigReader) {
        enabled = r.bool("enabled", enabled)
        directory = r.string("directory", directory, allowEmpty: false)
        Self.checkAbsolute(directory, key: "directory", in: &r)
        files = r.strings("files", files)
        for (i, file) in files.enumerated() { Self.checkAbsolute(file, key: "files[\(i)]", in: &r) }
        units = r.strings("units", units)
        for (i, unit) in units.enumerated() { Self.checkMatchValue(unit, key: "units[\(i)]", what: "unit name", in: &r) }
        identifiers = r.strings("identifiers", identifiers)
        for (i, id) in identifiers.enumerated() {
            Self.checkMatchValue(id, key: "identifiers[\(i)]", what: "syslog identifier", in: &r)
        }
        maxPriority = Self.readPriority(&r, fallback: maxPriority)
        readFrom = r.choice("readFrom", readFrom, ["beginning", "end"])
        extraFields = r.strings("extraFields", extraFields)
        for (i, pattern) in extraFields.enumerated() where !Self.isFieldPattern(pattern) {
            r.report(
                "extraFields[\(i)]", "\"\(pattern)\" is not a journal field name or pattern",
                fix: "use upper-case letters, digits and _ (e.g. \"_PID\"), with * or ? as globs and ! in front to exclude")
        }
        maxFieldBytes = r.size("maxFieldBytes", maxFieldBytes, min: 1024, max: 16 << 20)
        pollIntervalSeconds = r.seconds("pollIntervalSeconds", pollIntervalSeconds, min: 0.05, max: 60)
    }

    public var json: JSONValue {
        .object([
            ("enabled", .bool(enabled)),
            ("directory", .string(directory)),
            ("files", .array(files.map(JSONValue.string))),
            ("units", .array(units.map(JSONValue.string))),
            ("identifiers", .array(identifiers.map(JSONValue.string))),
            ("maxPriority", .int(maxPriority)),
            ("readFrom", .string(readFrom)),
            ("extraFields", .array(extraFields.map(JSONValue.string))),
            ("maxFieldBytes", .int(maxFieldBytes)),
            ("pollIntervalSeconds", .double(pollIntervalSeconds)),
        ])
    }

    /// `maxPriority` as a number 0…7 or a syslog name (`err`, `warning`, `info`, …).
    private static func readPriority(_ r: inout ConfigReader, fallback: Int64) -> Int64 {
        if case .string(let name)? = r.raw("maxPriority") {
            if let value = priorityNames.firstIndex(of: name.lowercased()) { return Int64(value) }
            let names = priorityNames.map { "\"\($0)\"" }.joined(separator: ", ")
            r.report("maxPriority", "\"\(name)\" is not a syslog priority", fix: "use a number from 0 to 7 or one of \(names)")
            return fallback
        }
        return r.int("maxPriority", fallback, min: 0, max: 7)
    }

    private static func checkAbsolute(_ path: String, key: String, in r: inout ConfigReader) {
        if !path.isEmpty && !path.hasPrefix("/") {
            r.report(key, "\"\(path)\" is a relative path", fix: "give an absolute path")
        }
    }

    /// A value matched literally against a journal field: sd-journal has no globs, and `=` or a newline would
    /// make the match mean something else.
    private static func checkMatchValue(_ value: String, key: String, what: String, in r: inout ConfigReader) {
        if value.isEmpty {
            r.report(key, "is empty", fix: "give a \(what)")
        } else if value.contains(where: { "*?[".contains($0) }) {
            r.report(key, "\"\(value)\" is a pattern; patterns are not supported here", fix: "list each \(what) in full")
        } else if value.contains(where: { $0.isNewline }) {
            r.report(key, "contains a line break", fix: "give a single-line \(what)")
        }
    }

    /// A journal field name (`A-Z`, `0-9`, `_`), possibly with `*`/`?` globs, possibly `!`-prefixed.
    static func isFieldPattern(_ pattern: String) -> Bool {
        let body = pattern.hasPrefix("!") ? pattern.dropFirst() : Substring(pattern)
        guard !body.isEmpty, body.utf8.count <= 64 else { return false }
        return body.utf8.allSatisfy { c in
            (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2A || c == 0x3F
        }
    }
}
