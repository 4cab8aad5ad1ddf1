/// The `metrics` section: the Prometheus endpoint and `/healthz`, on the port and path edgeHub and edgeAgent use,
/// so the IoT Edge metrics-collector module scrapes `http://edgelog:9600/metrics`.
public struct MetricsSettings: Sendable, Equatable {
    /// The path `/healthz` answers on; `path` cannot take it.
    public static let healthPath = "/healthz"

    /// Serve `/metrics` and `/healthz` at all.
    public var enabled = true
    /// The address to listen on: `0.0.0.0` for every IPv4 interface (other modules reach it by the module name),
    /// `127.0.0.1` for the container alone, `::` for IPv6 too.
    public var host = "0.0.0.0"
    /// The TCP port.
    public var port: Int64 = 9600
    /// The path of the Prometheus text exposition.
    public var path = "/metrics"
    /// `/healthz` answers 503 once the sink has failed every attempt for this long while the spool holds data
    /// (or batches went to the dead-letter folder meanwhile).
    public var sinkFailureSeconds: Double = 600

    public init() {}

    init(reading r: inout ConfigReader) {
        enabled = r.bool("enabled", enabled)
        host = r.string("host", host, allowEmpty: false)
        if host.contains(where: { $0 == " " || $0 == "/" || $0 == "[" || $0 == "]" }) {
            r.report(
                "host", "\"\(host)\" is not an address",
                fix: "give an IP address such as \"0.0.0.0\" or \"::\", or a host name")
            host = Self().host
        }
        port = r.int("port", port, min: 1, max: 65535)
        path = r.string("path", path, allowEmpty: false)
        if !path.hasPrefix("/") || path.contains("?") || path.contains(" ") {
            r.report("path", "\"\(path)\" is not a URL path", fix: "give a path starting with /, such as \"/metrics\"")
            path = Self().path
        } else if path == Self.healthPath {
            r.report(
                "path", "\(Self.healthPath) is the health check's path", fix: "use another path, such as \"/metrics\"")
            path = Self().path
        }
        sinkFailureSeconds = r.seconds("sinkFailureSeconds", sinkFailureSeconds, min: 1, max: 7 * 86400)
    }

    public var json: JSONValue {
        .object([
            ("enabled", .bool(enabled)),
            ("host", .string(host)),
            ("port", .int(port)),
            ("path", .string(path)),
            ("sinkFailureSeconds", .double(sinkFailureSeconds)),
        ])
    }
}
