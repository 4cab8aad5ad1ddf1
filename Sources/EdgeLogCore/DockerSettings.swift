/// The `docker` section: container logs from Docker's json-file driver.
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
    /// Cap for one message after Docker's 16 KiB pieces are rejoined; the head is kept.
    public var maxMessageBytes: Int64 = 1 << 20
    /// Seconds between directory scans when inotify is not available (and as a safety net when it is, x30).
    public var pollIntervalSeconds: Double = 1

    public init() {}

    init(reading r: inout ConfigReader) {
        enabled = r.bool("enabled", enabled)
        containersDirectory = r.string("containersDirectory", containersDirectory, allowEmpty: false)
        include = r.strings("include", include)
        exclude = r.strings("exclude", exclude)
        excludeSelf = r.bool("excludeSelf", excludeSelf)
        labels = r.strings("labels", labels)
        readFrom = r.choice("readFrom", readFrom, ["beginning", "end"])
        maxMessageBytes = r.size("maxMessageBytes", maxMessageBytes, min: 1024, max: 64 << 20)
        pollIntervalSeconds = r.seconds("pollIntervalSeconds", pollIntervalSeconds, min: 0.05, max: 3600)
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
        ])
    }
}
