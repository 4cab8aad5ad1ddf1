import EdgeLogCore

/// What the metrics server answers, as a pure function of the request line: `GET <path>` the Prometheus text,
/// `GET /healthz` 200 `ok` or 503 with the reasons, 404 for any other path, 405 for any other method.
public struct MetricsEndpoints: Sendable {
    /// The path of the Prometheus text (`metrics.path`).
    public var metricsPath: String
    /// Renders the metrics (called per scrape).
    public var metrics: @Sendable () -> [UInt8]
    /// The reasons the service is not healthy; empty when it is.
    public var health: @Sendable () -> [String]

    public init(
        metricsPath: String, metrics: @escaping @Sendable () -> [UInt8], health: @escaping @Sendable () -> [String]
    ) {
        self.metricsPath = metricsPath
        self.metrics = metrics
        self.health = health
    }

    /// An answer: status, content type, body, and `Allow` for 405.
    public struct Answer: Sendable, Equatable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]
        public var allow: String?

        public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String, allow: String? = nil)
        {
            self.init(status: status, contentType: contentType, bytes: Array(body.utf8), allow: allow)
        }

        public init(status: Int, contentType: String, bytes: [UInt8], allow: String? = nil) {
            self.status = status
            self.contentType = contentType
            self.body = bytes
            self.allow = allow
        }

        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Whether the answer reads files: the metrics do (a scrape `lstat`s every checkpointed file), so the server
    /// makes that answer on the `BlockingPool`; health and refusals are locks only and answered on the event loop,
    /// where a pool kept busy by compression or fsyncs cannot delay them.
    public func readsFiles(method: String, uri: String) -> Bool {
        method == "GET" && Self.path(of: uri) == metricsPath
    }

    static func path(of uri: String) -> String {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
    }

    /// The answer to `method` (as sent, e.g. `GET`) on `uri` (a query string is ignored).
    public func answer(method: String, uri: String) -> Answer {
        let path = Self.path(of: uri)
        guard path == metricsPath || path == MetricsSettings.healthPath else {
            return Answer(
                status: 404, body: "not found; EdgeLog serves \(metricsPath) and \(MetricsSettings.healthPath)\n")
        }
        guard method == "GET" else {
            return Answer(status: 405, body: "method \(method) not allowed; use GET\n", allow: "GET")
        }
        if path == metricsPath {
            return Answer(status: 200, contentType: PrometheusText.contentType, bytes: metrics())
        }
        let problems = health()
        if problems.isEmpty { return Answer(status: 200, body: "ok\n") }
        return Answer(status: 503, body: problems.joined(separator: "\n") + "\n")
    }
}
