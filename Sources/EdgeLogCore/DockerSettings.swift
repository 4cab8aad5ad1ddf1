/// The `docker` section: container logs from Docker's json-file and `local` drivers (files), and from its `journald`
/// driver (entries of the journal).
public struct DockerSettings: Sendable, Equatable {
    /// Collect container logs at all.
    public var enabled = true
    /// Where Docker keeps `<id>/<id>-json.log` and `<id>/config.v2.json`.
    public var containersDirectory = "/var/lib/docker/containers"
    /// Container names to collect (`*` and `?` globs); empty means all.
    public var include: [String] = []
    /// Container names to skip (`*` and `?` globs); wins over `include`.
    public var exclude: [String] = []
    /// Skip EdgeLog's own container (found from /proc/self/mountinfo or `IOTEDGE_MODULEID`).
    public var excludeSelf = true
    /// Container labels copied to each record's `Extra.labels`: globs, `!` in front excludes. None by default (they
    /// repeat in every record); `net.azure-devices.edge.create-options` and `.env` may hold secrets.
    public var labels: [String] = []
    /// Where to start in a container seen for the first time: `beginning` or `end`.
    public var readFrom = "beginning"
    /// Cap for one message after Docker's 16 KiB pieces are rejoined; the head is kept. A record must fit in one
    /// batch with its other columns, so this is at most the largest batch (1,000,000 bytes) less `recordRoomBytes`;
    /// a smaller `batch.maxBytes` cuts messages further (counted the same way).
    public var maxMessageBytes: Int64 = 960 * 1024
    /// Room kept in the largest batch beside a message of `maxMessageBytes` for the record's other columns.
    public static let recordRoomBytes: Int64 = 4096
    /// An entry without its newline (Docker's partial message) that is not continued within this many seconds is
    /// shipped as its own record.
    public var partialFlushSeconds: Double = 5
    /// Memory for messages being rejoined, over all containers; past it the oldest open message is shipped cut.
    public var maxPendingBytes: Int64 = 8 << 20
    /// Seconds between directory scans when inotify is not available (and as a safety net when it is, x30).
    public var pollIntervalSeconds: Double = 1
    /// Containers logging through Docker's `journald` driver, read from the journal as container records:
    /// `auto` (when any container under `containersDirectory` uses that driver, or whenever the journal is read for
    /// host entries), `true` (always; the journal is read even when `journal.enabled` is false) or `false` (never:
    /// such entries are then host entries like any other). A boolean is accepted for `true`/`false`.
    public var journal = JournalMode.auto

    /// The values of `docker.journal`.
    public enum JournalMode: String, Sendable, Equatable, CaseIterable {
        case auto, `true`, `false`
    }

    public init() {}

    init(reading r: inout ConfigReader) {
        enabled = r.bool("enabled", enabled)
        containersDirectory = r.string("containersDirectory", containersDirectory, allowEmpty: false)
        include = r.strings("include", include)
        exclude = r.strings("exclude", exclude)
        excludeSelf = r.bool("excludeSelf", excludeSelf)
        labels = r.strings("labels", labels)
        readFrom = r.choice("readFrom", readFrom, ["beginning", "end"])
        maxMessageBytes = r.size(
            "maxMessageBytes", maxMessageBytes, min: 1024, max: BatchSettings.ingestionLimit - Self.recordRoomBytes,
            maxReason: "largest message a batch of at most 1000000 bytes holds with the record's other columns")
        pollIntervalSeconds = r.seconds("pollIntervalSeconds", pollIntervalSeconds, min: 0.05, max: 3600)
        partialFlushSeconds = r.seconds("partialFlushSeconds", partialFlushSeconds, min: 0.1, max: 3600)
        maxPendingBytes = r.size("maxPendingBytes", maxPendingBytes, min: 64 * 1024, max: 1 << 30)
        switch r.raw("journal") {
        case nil: break
        case .bool(let on)?: journal = on ? .true : .false
        case .string(let text)? where JournalMode(rawValue: text) != nil: journal = JournalMode(rawValue: text)!
        case .string(let text)?:
            r.report("journal", "\"\(text)\" is not auto, true or false", fix: "use \"auto\" (the default), true or false")
        case let other?:
            r.report("journal", "is \(other.typeName)", fix: "use \"auto\" (the default), true or false")
        }
        if maxPendingBytes < maxMessageBytes {
            r.report(
                "maxPendingBytes",
                "\(maxPendingBytes) cannot hold one message of docker.maxMessageBytes \(maxMessageBytes)",
                fix: "use at least \(maxMessageBytes)")
        }
    }

    public var json: JSONValue {
        .object([
            ("enabled", .bool(enabled)),
            ("containersDirectory", .string(containersDirectory)),
            ("include", .array(include.map(JSONValue.string))),
            ("exclude", .array(exclude.map(JSONValue.string))),
            ("excludeSelf", .bool(excludeSelf)),
            ("labels", .array(labels.map(JSONValue.string))),
            ("readFrom", .string(readFrom)),
            ("maxMessageBytes", .int(maxMessageBytes)),
            ("pollIntervalSeconds", .double(pollIntervalSeconds)),
            ("partialFlushSeconds", .double(partialFlushSeconds)),
            ("maxPendingBytes", .int(maxPendingBytes)),
            ("journal", .string(journal.rawValue)),
        ])
    }
}
