/// The `twin` section: how EdgeLog uses its module twin when it runs as an IoT Edge module (ignored standalone).
public struct TwinSettings: Sendable, Equatable {
    /// How often the `health` reported property is refreshed (it is also reported right after every
    /// configuration change). Reported properties count against IoT Hub's message quota: keep it at a minute or more
    /// on a fleet.
    public var reportIntervalSeconds: Double = 60

    public init() {}

    init(reading r: inout ConfigReader) {
        reportIntervalSeconds = r.seconds("reportIntervalSeconds", reportIntervalSeconds, min: 1, max: 86_400)
    }

    public var json: JSONValue {
        .object([("reportIntervalSeconds", .double(reportIntervalSeconds))])
    }
}
