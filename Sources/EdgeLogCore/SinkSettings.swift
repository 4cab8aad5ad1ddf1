/// The `sink` section: where batches are delivered.
public struct SinkSettings: Sendable, Equatable {
    /// `file`, the embedded default: gzip NDJSON files in `directory`.
    public var type = "file"
    /// For `file`: the output folder; empty means `<stateDirectory>/outbox`.
    public var directory = ""
    /// On shutdown, how long to keep delivering spooled batches before exiting (they stay spooled).
    public var shutdownGraceSeconds: Double = 5

    public init() {}

    init(reading r: inout ConfigReader) {
        type = r.choice("type", type, ["file"])
        directory = r.string("directory", directory)
        if !directory.isEmpty && !directory.hasPrefix("/") {
            r.report("directory", "\"\(directory)\" is a relative path", fix: "give an absolute path")
        }
        shutdownGraceSeconds = r.seconds("shutdownGraceSeconds", shutdownGraceSeconds, min: 0, max: 60)
    }

    public var json: JSONValue {
        .object([
            ("type", .string(type)),
            ("directory", .string(directory)),
            ("shutdownGraceSeconds", .double(shutdownGraceSeconds)),
        ])
    }
}
