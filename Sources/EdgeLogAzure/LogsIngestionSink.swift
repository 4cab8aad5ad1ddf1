import EdgeLogCore
import Logging

/// Azure Monitor's Logs Ingestion API: each batch, a gzip JSON array of at most 1,000,000 bytes either way, is
/// `POST {endpoint}/dataCollectionRules/{dcrImmutableId}/streams/{streamName}?api-version=2023-01-01` with a
/// Microsoft Entra bearer token; `204` is success. A 401 renews the token and tries once more.
/// Each failed call is logged as `sink logsIngestion failed batch <n>: HTTP <status> … (x-ms-client-request-id <id>)`.
public struct LogsIngestionSink: Sink {
    /// The API's limit per call, compressed and uncompressed (the batcher keeps arrays within it).
    public static let maxCallBytes = 1_000_000
    /// The service truncates longer field values; sources cap `Message` below this when this sink is used.
    public static let maxFieldBytes = 64_000

    /// The `sink` section it was built from.
    public let settings: SinkSettings
    let url: String
    let tokens: EntraTokenProvider
    let upload: HTTPUpload
    let compressor: any BatchCompressor
    let level: Int
    let logger: Logger

    /// - Parameters: the `sink` section, the client secret, the transport, the compressor and level for
    ///   batches spooled in another layout, the logger failed calls go to, and where each call's answer and
    ///   latency are recorded (for metrics), and the clock access tokens' lifetimes are measured on.
    public init(
        settings: SinkSettings, secret: Secret, transport: HTTPTransport, compressor: any BatchCompressor, level: Int,
        logger: Logger, uploads: UploadStats? = nil, clock: ElapsedClock = .continuous
    ) {
        self.settings = settings
        self.url = settings.ingestionURL
        self.tokens = EntraTokenProvider(
            tokenURL: settings.tokenURL, clientId: settings.clientId, secret: secret, scope: settings.scope,
            transport: transport, logger: logger, clock: clock)
        self.upload = HTTPUpload(
            sinkName: "logsIngestion", requestIdHeader: "x-ms-client-request-id", transport: transport,
            logger: logger, uploads: uploads)
        self.compressor = compressor
        self.level = level
        self.logger = logger
    }

    public var name: String { "logsIngestion" }
    public var format: BatchFormat { .jsonArray }
    public var maxConcurrentDeliveries: Int { Int(settings.concurrency) }
    /// A backlog drains in calls merged up to `batch.maxBytes` (at most the API's 1,000,000 bytes).
    public var mergesBatches: Bool { true }
    public var maxFieldBytes: Int? { Self.maxFieldBytes }
    /// Access tokens fetched so far.
    public var tokensFetched: Int { get async { await tokens.fetched } }

    /// Sends one batch (renewing the token once on 401): `.delivered` on 204; see `HTTPFailure` for the rest.
    public func deliver(_ batch: SinkBatch) async -> DeliveryResult {
        let body: [UInt8]
        switch BatchBody.prepare(batch, as: .jsonArray, compressor: compressor, level: level) {
        case .body(let b): body = b
        case .unreadable(let result): return result
        }
        if body.count > Self.maxCallBytes {
            return .permanent(
                reason: "batch is \(body.count) bytes compressed, over the API's \(Self.maxCallBytes)-byte limit",
                detail: "lower batch.maxBytes")
        }
        var renewed = false
        while true {
            let token: Secret
            do {
                token = try await tokens.token()
            } catch {
                return failed(batch, tokenFailure: error)
            }
            let headers = [
                ("Authorization", "Bearer " + token.exposed), ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ]
            switch await upload.post(url, headers: headers, body: body, batch: batch) {
            case .failed(let result):
                return result
            case .answered(let response, _) where response.status == 204:
                return .delivered
            case .answered(let response, let requestId) where response.status == 401 && !renewed:
                // Revoked or expired early: one new token, one more try.
                logger.info(
                    "sink \(name): HTTP 401 for batch \(batch.sequence) (x-ms-client-request-id \(requestId)); renewing the access token"
                )
                await tokens.invalidate(token)
                renewed = true
            case .answered(let response, let requestId):
                return upload.refused(response, requestId: requestId, batch: batch, hint: Self.hint)
            }
        }
    }

    private func failed(_ batch: SinkBatch, tokenFailure: EntraTokenProvider.Failure) -> DeliveryResult {
        switch tokenFailure {
        case .transient(let reason, let retryAfter):
            return upload.logged(.retryable(reason: "no access token: \(reason)", retryAfter: retryAfter), batch: batch)
        case .refused(let reason):
            return upload.logged(.permanent(reason: "no access token: \(reason)", detail: reason), batch: batch)
        }
    }

    /// What to check, by status.
    static func hint(_ status: Int) -> String? {
        switch status {
        case 200...299: return "the Logs Ingestion API answers 204; is sink.endpoint a logs ingestion endpoint?"
        case 300...399: return "redirects are not followed; set sink.endpoint to the final URL"
        case 401:
            return
                "still refused after renewing the access token: check sink.tenantId, sink.clientId, the secret and sink.scope"
        case 403:
            return
                "the app registration needs the Monitoring Metrics Publisher role on the data collection rule (a new role assignment takes up to 30 minutes)"
        case 404: return "check sink.endpoint, sink.dcrImmutableId and sink.streamName"
        case 413: return "the call is over 1 MB; lower batch.maxBytes"
        default: return nil
        }
    }
}
