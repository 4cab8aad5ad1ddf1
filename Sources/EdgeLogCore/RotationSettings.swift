/// The `rotation` section: logrotate's policy, applied by EdgeLog itself.
public struct RotationSettings: Sendable, Equatable {
    /// Rotate at all.
    public var enabled = false

    public init() {}

    init(reading r: inout ConfigReader) {
        enabled = r.bool("enabled", enabled)
    }

    public var json: JSONValue {
        .object([("enabled", .bool(enabled))])
    }
}
