/// The `twin` section: how EdgeLog uses its module twin when it runs as an IoT Edge module (ignored standalone).
public struct TwinSettings: Sendable, Equatable {
    /// How often the `health` reported property is refreshed (it is also reported right after every
    /// configuration change). Reported properties count against IoT Hub's message quota: keep it at a minute or more
    /// on a fleet.
    public var reportIntervalSeconds: Double = 60
    /// At a start with no configuration from the twin saved in the state directory (a first deployment, a wiped
    /// state directory), how long EdgeLog waits for the twin's desired properties before reading any log with the
    /// configuration it was started with. Until then nothing is read (Docker and the journal keep the lines), so
    /// nothing goes to a sink the twin does not name. After a start that has one saved, that one runs at once.
    public var startupWaitSeconds: Double = 300

    public init() {}

    init(reading r: inout ConfigReader) {
        reportIntervalSeconds = r.seconds("reportIntervalSeconds", reportIntervalSeconds, min: 1, max: 86_400)
        startupWaitSeconds = r.seconds("startupWaitSeconds", startupWaitSeconds, min: 0, max: 86_400)
    }

    public var json: JSONValue {
        .object([
            ("reportIntervalSeconds", .double(reportIntervalSeconds)),
            ("startupWaitSeconds", .double(startupWaitSeconds)),
        ])
    }
}
