/// The configured sink with the settings it uses and no others: what the code switches on to build a sink,
/// pick the batch layout or describe where batches go. `SinkSettings.target` makes it from the `sink` section,
/// whose flat keys stay the document's format (keys of the types not chosen are kept, so switching `type` is a
/// one-key change). The settings every network sink shares (`timeoutSeconds`, `concurrency`, `maxBytesPerSecond`,
/// `budgetWindowSeconds`, `caFile`) stay in `SinkSettings`.
public enum SinkTarget: Sendable, Equatable {
    /// `file`: gzip NDJSON files in `directory` (empty: `<stateDirectory>/outbox`).
    case file(directory: String)
    /// `logsIngestion`: Azure Monitor's Logs Ingestion API.
    case logsIngestion(LogsIngestionTarget)
    /// `http`: gzip JSON array or NDJSON POSTed to a URL.
    case http(HTTPTarget)

    /// The batch layout the sink wants.
    public var batchFormat: BatchFormat {
        switch self {
        case .file: return .ndjson
        case .logsIngestion: return .jsonArray
        case .http(let http): return http.format
        }
    }
}

/// The `logsIngestion` sink's settings.
public struct LogsIngestionTarget: Sendable, Equatable {
    /// The data collection rule's logs ingestion endpoint (`sink.endpoint`).
    public var endpoint: String
    /// The URL of one call: the endpoint, the rule's immutable id and the stream.
    public var ingestionURL: String
    /// Microsoft Entra's token URL for the tenant.
    public var tokenURL: String
    public var tenantId: String
    public var clientId: String
    /// A file holding the client secret; empty: the environment variable `EDGELOG_CLIENT_SECRET`.
    public var clientSecretFile: String
    public var scope: String

    public init(
        endpoint: String, ingestionURL: String, tokenURL: String, tenantId: String, clientId: String,
        clientSecretFile: String, scope: String
    ) {
        self.endpoint = endpoint
        self.ingestionURL = ingestionURL
        self.tokenURL = tokenURL
        self.tenantId = tenantId
        self.clientId = clientId
        self.clientSecretFile = clientSecretFile
        self.scope = scope
    }
}

/// The `http` sink's settings.
public struct HTTPTarget: Sendable, Equatable {
    /// Where batches are POSTed.
    public var url: String
    /// `jsonArray` or `ndjson` (`sink.format`).
    public var format: BatchFormat
    /// Extra request headers (no secrets).
    public var headers: [String: String]
    /// Extra request headers whose values come from environment variables (header → variable).
    public var headersFromEnvironment: [String: String]

    public init(url: String, format: BatchFormat, headers: [String: String], headersFromEnvironment: [String: String]) {
        self.url = url
        self.format = format
        self.headers = headers
        self.headersFromEnvironment = headersFromEnvironment
    }
}
