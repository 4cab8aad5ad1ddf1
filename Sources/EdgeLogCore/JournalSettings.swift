/// The `journal` section: host logs from journald through libsystemd's sd-journal API.
public struct JournalSettings: Sendable, Equatable {
    /// Collect journal entries at all.
    public var enabled = false

    public init() {}

    init(reading r: inout ConfigReader) {
        enabled = r.bool("enabled", enabled)
    }

    public var json: JSONValue {
        .object([("enabled", .bool(enabled))])
    }
}
