import EdgeLogCore
import Logging

/// The generic `http` sink: each batch, gzip of a JSON array or of NDJSON (`sink.format`), is POSTed to
/// `sink.url` with `Content-Encoding: gzip`, the configured headers and a fresh `X-Request-ID`; any 2xx is success.
/// Retries and dead letters follow the same rules as the Logs Ingestion sink. Header values are never logged.
public struct HTTPSink: Sink {
    /// The `sink` section it was built from.
    public let settings: SinkSettings
    let headers: [(String, Secret)]
    let upload: HTTPUpload
    let compressor: any BatchCompressor
    let level: Int

    /// - Parameters:
    ///   - headers: `sink.headers` and the values of `sink.headersFromEnvironment`, all treated as secrets.
    ///   - uploads: where each call's answer and latency are recorded (for metrics).
    public init(
        settings: SinkSettings, headers: [(String, Secret)], transport: HTTPTransport, compressor: any BatchCompressor,
        level: Int, logger: Logger, uploads: UploadStats? = nil
    ) {
        self.settings = settings
        self.headers = headers
        self.upload = HTTPUpload(
            sinkName: "http", requestIdHeader: "X-Request-ID", transport: transport, logger: logger, uploads: uploads)
        self.compressor = compressor
        self.level = level
    }

    public var name: String { "http" }
    public var format: BatchFormat { settings.batchFormat }
    public var maxConcurrentDeliveries: Int { Int(settings.concurrency) }
    /// A backlog drains in calls merged up to `batch.maxBytes`.
    public var mergesBatches: Bool { true }

    /// POSTs one batch: `.delivered` on 2xx; see `HTTPFailure` for the rest.
    public func deliver(_ batch: SinkBatch) async -> DeliveryResult {
        let body: [UInt8]
        switch BatchBody.prepare(batch, as: format, compressor: compressor, level: level) {
        case .body(let b): body = b
        case .unreadable(let result): return result
        }
        var all: [(String, String)] = [
            ("Content-Type", format == .ndjson ? "application/x-ndjson" : "application/json"),
            ("Content-Encoding", "gzip"),
        ]
        all += headers.map { ($0.0, $0.1.exposed) }
        switch await upload.post(settings.url, headers: all, body: body, batch: batch) {
        case .failed(let result):
            return result
        case .answered(let response, _) where (200...299).contains(response.status):
            return .delivered
        case .answered(let response, let requestId):
            return upload.refused(response, requestId: requestId, batch: batch, hint: Self.hint)
        }
    }

    /// What to check, by status.
    static func hint(_ status: Int) -> String? {
        switch status {
        case 300...399: return "redirects are not followed; set sink.url to the final URL"
        case 401, 403: return "check the credentials in sink.headersFromEnvironment"
        case 404: return "check sink.url"
        default: return nil
        }
    }
}
