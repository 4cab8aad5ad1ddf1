import EdgeLogCore
import Logging

/// The generic `http` sink: each batch, gzip of a JSON array or of NDJSON (`sink.format`), is POSTed to
/// `sink.url` with `Content-Encoding: gzip`, the configured headers and a fresh `X-Request-ID`; any 2xx is success.
/// Retries and dead letters follow the same rules as the Logs Ingestion sink. Header values are never logged.
public struct HTTPSink: Sink {
    /// The `sink` section it was built from.
    public let settings: SinkSettings
    let headers: [(String, Secret)]
    let transport: HTTPTransport
    let compressor: any BatchCompressor
    let level: Int
    let logger: Logger
    let uploads: UploadStats?

    /// - Parameters:
    ///   - headers: `sink.headers` and the values of `sink.headersFromEnvironment`, all treated as secrets.
    ///   - uploads: where each call's answer and latency are recorded (for metrics).
    public init(
        settings: SinkSettings, headers: [(String, Secret)], transport: HTTPTransport, compressor: any BatchCompressor,
        level: Int, logger: Logger, uploads: UploadStats? = nil
    ) {
        self.settings = settings
        self.headers = headers
        self.transport = transport
        self.compressor = compressor
        self.level = level
        self.logger = logger
        self.uploads = uploads
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
        let requestId = RequestID.make()
        var all: [(String, String)] = [
            ("Content-Type", format == .ndjson ? "application/x-ndjson" : "application/json"),
            ("Content-Encoding", "gzip"), ("X-Request-ID", requestId),
        ]
        all += headers.map { ($0.0, $0.1.exposed) }
        let response: HTTPTransport.Response
        do {
            response = try await transport.post(settings.url, headers: all, body: body, recordingIn: uploads)
        } catch {
            let reason = HTTPFailure.describe(error, timeout: transport.timeout) + " (X-Request-ID \(requestId))"
            if HTTPFailure.isCancellation(error) { return .retryable(reason: "cancelled at shutdown", retryAfter: nil) }
            logger.warning("sink \(name) failed batch \(batch.sequence): \(reason)")
            return .retryable(reason: reason, retryAfter: nil)
        }
        if (200...299).contains(response.status) { return .delivered }
        let result = HTTPFailure.result(response, requestId: requestId, requestIdHeader: "X-Request-ID") { status in
            switch status {
            case 300...399: return "redirects are not followed; set sink.url to the final URL"
            case 401, 403: return "check the credentials in sink.headersFromEnvironment"
            case 404: return "check sink.url"
            default: return nil
            }
        }
        switch result {
        case .permanent(let reason, _): logger.error("sink \(name) failed batch \(batch.sequence): \(reason)")
        case .retryable(let reason, _), .throttled(let reason, _):
            logger.warning("sink \(name) failed batch \(batch.sequence): \(reason)")
        case .delivered: break
        }
        return result
    }
}
