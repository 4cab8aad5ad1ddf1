/// Which records a rule applies to. No list at all: every record. `modules` selects container records by
/// container (module) name; `units` and `identifiers` select journal records by `_SYSTEMD_UNIT` or by the record's
/// `ModuleId` (`SYSLOG_IDENTIFIER`, else `_COMM`), either list sufficing. Entries are globs (`*`, `?`), and `!` in
/// front excludes, as in `docker.labels`; a unit without a suffix or glob gets `.service`, as in `journal.units`.
public struct FilterMatch: Sendable, Equatable {
    public var modules: [String] = []
    public var units: [String] = []
    public var identifiers: [String] = []

    public init(modules: [String] = [], units: [String] = [], identifiers: [String] = []) {
        self.modules = modules
        self.units = units
        self.identifiers = identifiers
    }

    init(reading r: inout ConfigReader) {
        modules = Self.readNames(&r, "modules", what: "container name")
        units = Self.readNames(&r, "units", what: "unit name")
        identifiers = Self.readNames(&r, "identifiers", what: "syslog identifier")
    }

    /// Matches every record.
    public var matchesEverything: Bool { modules.isEmpty && units.isEmpty && identifiers.isEmpty }

    public var json: JSONValue {
        .object([
            ("modules", .array(modules.map(JSONValue.string))),
            ("units", .array(units.map(JSONValue.string))),
            ("identifiers", .array(identifiers.map(JSONValue.string))),
        ])
    }

    private static func readNames(_ r: inout ConfigReader, _ key: String, what: String) -> [String] {
        let names = r.strings(key, [])
        for (i, name) in names.enumerated() where name.isEmpty || name == "!" {
            r.report("\(key)[\(i)]", "is empty", fix: "give a \(what) or a glob such as \"sensor*\"")
        }
        if !names.isEmpty && names.allSatisfy({ $0.hasPrefix("!") }) {
            r.report(key, "only excludes", fix: "add \"*\" in front to mean all others, e.g. [\"*\", \"!edgeHub\"]")
        }
        return names
    }
}
