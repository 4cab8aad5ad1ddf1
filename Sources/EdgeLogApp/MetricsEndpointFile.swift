import EdgeLogCore

/// `<stateDirectory>/metrics-endpoint.json`: where the running process serves `/healthz` now. The module twin
/// can move the port or turn metrics off; `edgelog healthcheck` (the image's HEALTHCHECK, which sees only the
/// built-in defaults or the config file) reads this file to follow. Rewritten at every change.
enum MetricsEndpointFile {
    static let name = "metrics-endpoint.json"

    struct Endpoint: Equatable {
        var enabled: Bool
        var host: String
        var port: Int
    }

    static func write(_ endpoint: Endpoint, stateDirectory: String) throws {
        let doc = JSONValue.object([
            ("enabled", .bool(endpoint.enabled)), ("host", .string(endpoint.host)),
            ("port", .int(Int64(endpoint.port))),
        ])
        try FileSystem.makeDirectories(stateDirectory)
        try FileSystem.writeAtomically(Array(doc.serialized(pretty: false).utf8), to: stateDirectory + "/" + name)
    }

    /// nil when there is no such file (no process has served metrics from this state directory) or it is unreadable.
    static func read(stateDirectory: String) -> Endpoint? {
        guard let bytes = try? FileSystem.read(stateDirectory + "/" + name, limit: 64 << 10),
            let doc = try? JSONParser.parse(bytes), let enabled = doc["enabled"]?.boolValue
        else { return nil }
        return Endpoint(
            enabled: enabled, host: doc["host"]?.stringValue ?? "127.0.0.1", port: Int(doc["port"]?.intValue ?? 0))
    }
}
