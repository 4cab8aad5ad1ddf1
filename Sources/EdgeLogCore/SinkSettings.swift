/// The `sink` section: where batches are delivered. Keys of the types not chosen are accepted and ignored,
/// so switching `type` is a one-key change.
public struct SinkSettings: Sendable, Equatable {
    /// The least nonzero `maxBytesPerSecond`: below it one full call would take over a quarter of an hour.
    public static let minBytesPerSecond: Int64 = 1000
    /// The largest `maxBytesPerSecond` (1 GB/s).
    public static let maxBytesPerSecondLimit: Int64 = 1_000_000_000

    /// The Logs Ingestion API version EdgeLog speaks.
    public static let ingestionAPIVersion = "2023-01-01"
    /// The values `type` takes.
    public enum Kind: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
        /// gzip NDJSON files in `directory`, the default.
        case file
        /// Azure Monitor's Logs Ingestion API.
        case logsIngestion
        /// gzip JSON array or NDJSON POSTed to `url`.
        case http

        public var description: String { rawValue }
    }
    /// The values `type` takes, as written in the document.
    public static let types = Kind.allCases.map(\.rawValue)

    /// `file` (gzip NDJSON files in `directory`, the default), `logsIngestion` (Azure Monitor's Logs Ingestion
    /// API) or `http` (gzip JSON array or NDJSON POSTed to `url`). `target` carries the settings of the one chosen.
    public var type = Kind.file
    /// For `file`: the output folder; empty means `<stateDirectory>/outbox`.
    public var directory = ""
    /// On shutdown, how long to keep delivering spooled batches before exiting (they stay spooled).
    public var shutdownGraceSeconds: Double = 5

    /// For `logsIngestion`: the data collection rule's logs ingestion endpoint, or a data collection endpoint's.
    public var endpoint = ""
    /// For `logsIngestion`: the data collection rule's immutable id, `dcr-` and 32 hex digits.
    public var dcrImmutableId = ""
    /// For `logsIngestion`: the stream the rule declares.
    public var streamName = "Custom-EdgeLogs"
    /// For `logsIngestion`: the Microsoft Entra tenant (directory) id.
    public var tenantId = ""
    /// For `logsIngestion`: the app registration's application (client) id.
    public var clientId = ""
    /// For `logsIngestion`: a file holding the client secret (a mounted secret); empty means the
    /// environment variable `EDGELOG_CLIENT_SECRET`. The secret itself is never part of this document.
    public var clientSecretFile = ""
    /// For `logsIngestion`: Microsoft Entra's host (sovereign clouds have their own).
    public var authorityHost = "https://login.microsoftonline.com"
    /// For `logsIngestion`: the token's scope (`https://monitor.azure.us//.default` in Azure Government,
    /// `https://monitor.azure.cn//.default` in Azure China).
    public var scope = "https://monitor.azure.com//.default"

    /// For `http`: where batches are POSTed.
    public var url = ""
    /// For `http`: `jsonArray` (one JSON array per request) or `ndjson` (one record per line).
    public var format = "jsonArray"
    /// For `http`: extra request headers. Secrets belong in `headersFromEnvironment`.
    public var headers: [String: String] = [:]
    /// For `http`: extra request headers whose values come from environment variables (header → variable).
    public var headersFromEnvironment: [String: String] = [:]

    /// For `logsIngestion` and `http`: the time one call (connect, send, answer) may take.
    public var timeoutSeconds: Double = 30
    /// For `logsIngestion` and `http`: calls in flight at once (batches are still acknowledged in order).
    public var concurrency: Int64 = 2
    /// For `logsIngestion` and `http`: the uplink budget, compressed bytes per second across calls (a call starts
    /// once the bytes before it are paid for at this rate); 0 means no cap. What the link cannot take waits in the
    /// spool.
    public var maxBytesPerSecond: Int64 = 0
    /// For `logsIngestion` and `http`: the window the upstream counts its limits over (a data collection rule's
    /// minute). After a 429 the call is sent again after `Retry-After` plus a random part of up to one window, and
    /// for ten windows new calls wait to be full or two windows after the last delivered call.
    public var budgetWindowSeconds: Double = 60
    /// For `logsIngestion` and `http`: a PEM file of extra CA certificates to trust (a private CA or a
    /// TLS-inspecting proxy). The system's trust store stays in use; verification cannot be turned off.
    public var caFile = ""

    /// The defaults: the `file` sink.
    public init() {}

    /// The configured sink with its own settings.
    public var target: SinkTarget {
        switch type {
        case .file:
            return .file(directory: directory)
        case .logsIngestion:
            return .logsIngestion(
                LogsIngestionTarget(
                    endpoint: endpoint, ingestionURL: ingestionURL, tokenURL: tokenURL, tenantId: tenantId,
                    clientId: clientId, clientSecretFile: clientSecretFile, scope: scope))
        case .http:
            return .http(
                HTTPTarget(
                    url: url, format: format == "ndjson" ? .ndjson : .jsonArray, headers: headers,
                    headersFromEnvironment: headersFromEnvironment))
        }
    }

    /// The batch layout the configured sink wants.
    public var batchFormat: BatchFormat { target.batchFormat }

    /// The Logs Ingestion API's URL for one call.
    public var ingestionURL: String {
        guard let base = EndpointURL(endpoint) else { return endpoint }
        return base.appending(
            path:
                "/dataCollectionRules/\(PercentEncoding.encode(dcrImmutableId))/streams/\(PercentEncoding.encode(streamName))"
        )
            + "?api-version=\(Self.ingestionAPIVersion)"
    }

    /// Microsoft Entra's token URL for `tenantId`.
    public var tokenURL: String {
        guard let base = EndpointURL(authorityHost) else { return authorityHost }
        return base.appending(path: "/\(PercentEncoding.encode(tenantId))/oauth2/v2.0/token")
    }

    init(reading r: inout ConfigReader) {
        type = Kind(rawValue: r.choice("type", type.rawValue, Self.types)) ?? type
        directory = r.string("directory", directory)
        if !directory.isEmpty && !directory.hasPrefix("/") {
            r.report("directory", "\"\(directory)\" is a relative path", fix: "give an absolute path")
        }
        shutdownGraceSeconds = r.seconds("shutdownGraceSeconds", shutdownGraceSeconds, min: 0, max: 60)
        // Looked at only when present, so it is never offered as a known key.
        if r.remainingMembers().contains(where: { $0.0 == "clientSecret" }) {
            _ = r.raw("clientSecret")
            r.report(
                "clientSecret",
                "a secret cannot be given in the configuration (a module twin is readable by anyone with access to the hub)",
                fix:
                    "remove it; put the secret in a file named by sink.clientSecretFile, or in the environment variable EDGELOG_CLIENT_SECRET"
            )
        }
        endpoint = r.string("endpoint", endpoint)
        dcrImmutableId = r.string("dcrImmutableId", dcrImmutableId)
        streamName = r.string("streamName", streamName, allowEmpty: false)
        tenantId = r.string("tenantId", tenantId)
        clientId = r.string("clientId", clientId)
        clientSecretFile = r.string("clientSecretFile", clientSecretFile)
        authorityHost = r.string("authorityHost", authorityHost, allowEmpty: false)
        scope = r.string("scope", scope, allowEmpty: false)
        url = r.string("url", url)
        format = r.choice("format", format, ["jsonArray", "ndjson"])
        headers = Self.stringMap(&r, "headers")
        headersFromEnvironment = Self.stringMap(&r, "headersFromEnvironment")
        timeoutSeconds = r.seconds("timeoutSeconds", timeoutSeconds, min: 1, max: 600)
        concurrency = r.int("concurrency", concurrency, min: 1, max: 16)
        let cap = r.size("maxBytesPerSecond", maxBytesPerSecond, min: 0, max: Self.maxBytesPerSecondLimit)
        if cap > 0 && cap < Self.minBytesPerSecond {
            r.report(
                "maxBytesPerSecond", "\(cap) is under the minimum of \(Self.minBytesPerSecond) bytes per second",
                fix: "use 0 (no cap) or at least \(Self.minBytesPerSecond), e.g. \"20kB\"")
        } else {
            maxBytesPerSecond = cap
        }
        budgetWindowSeconds = r.seconds("budgetWindowSeconds", budgetWindowSeconds, min: 1, max: 3600)
        caFile = r.string("caFile", caFile)
        validate(&r)
    }

    private func validate(_ r: inout ConfigReader) {
        for (key, path) in [("clientSecretFile", clientSecretFile), ("caFile", caFile)]
        where !path.isEmpty && !path.hasPrefix("/") {
            r.report(key, "\"\(path)\" is a relative path", fix: "give an absolute path")
        }
        checkURL(&r, "authorityHost", authorityHost)
        if !scope.hasSuffix("/.default") {
            r.report(
                "scope", "\"\(scope)\" does not end in /.default",
                fix: "use the resource's .default scope, e.g. https://monitor.azure.com//.default")
        }
        if !streamName.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
            r.report(
                "streamName", "\"\(streamName)\" has characters a stream name cannot have",
                fix: "use the stream declared in the data collection rule, e.g. Custom-EdgeLogs")
        }
        if !tenantId.isEmpty
            && !tenantId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") })
        {
            r.report(
                "tenantId", "\"\(tenantId)\" is not a tenant id",
                fix: "use the directory (tenant) id, a GUID, or the tenant's domain name")
        }
        if !clientId.isEmpty && !Self.isGUID(clientId) {
            r.report(
                "clientId", "\"\(clientId)\" is not a GUID", fix: "use the app registration's Application (client) ID")
        }
        if !dcrImmutableId.isEmpty && !Self.isImmutableId(dcrImmutableId) {
            r.report(
                "dcrImmutableId", "\"\(dcrImmutableId)\" is not a data collection rule's immutable id",
                fix:
                    "use the rule's immutableId (dcr- and 32 hex digits, the deployment's dcrImmutableId output), not its name or resource id"
            )
        }
        switch type {
        case .logsIngestion:
            for (key, value) in [
                ("endpoint", endpoint), ("dcrImmutableId", dcrImmutableId), ("tenantId", tenantId),
                ("clientId", clientId),
            ]
            where value.isEmpty {
                r.report(key, "is required when sink.type is \"logsIngestion\"", fix: Self.requiredFix[key]!)
            }
            checkURL(&r, "endpoint", endpoint)
        case .http:
            if url.isEmpty {
                r.report(
                    "url", "is required when sink.type is \"http\"",
                    fix: "give the collector's URL, e.g. https://collector.example.com/ingest")
            }
            checkURL(&r, "url", url)
        case .file:
            break
        }
        let reserved: Set<String> = [
            "content-type", "content-encoding", "content-length", "host", "transfer-encoding", "connection",
        ]
        var seen: Set<String> = []
        for (key, map) in [("headers", headers), ("headersFromEnvironment", headersFromEnvironment)] {
            for (name, value) in map.sorted(by: { $0.key < $1.key }) {
                let lower = name.lowercased()
                if name.isEmpty || !name.utf8.allSatisfy(Self.isTokenByte) {
                    r.report("\(key).\(name)", "is not a valid header name", fix: "use letters, digits and -")
                } else if reserved.contains(lower) {
                    r.report("\(key).\(name)", "is set by EdgeLog itself", fix: "remove it")
                } else if !seen.insert(lower).inserted {
                    r.report("\(key).\(name)", "is given twice (header names are case-insensitive)", fix: "keep one")
                }
                if key == "headers" && (lower == "authorization" || lower == "proxy-authorization") {
                    r.report(
                        "\(key).\(name)",
                        "would put a credential in the configuration, which a module twin shows to anyone with access to the hub",
                        fix: "name an environment variable in sink.headersFromEnvironment instead")
                }
                if value.contains("\r") || value.contains("\n") {
                    r.report("\(key).\(name)", "contains a line break", fix: "remove it")
                }
                if key == "headersFromEnvironment" && value.isEmpty {
                    r.report("\(key).\(name)", "is empty", fix: "name the environment variable that holds the value")
                }
            }
        }
    }

    private static let requiredFix = [
        "endpoint":
            "give the rule's logs ingestion endpoint (the deployment's endpoint output), e.g. https://my-dcr-abcd.westeurope-1.ingest.monitor.azure.com",
        "dcrImmutableId":
            "give the rule's immutable id (the deployment's dcrImmutableId output), dcr- and 32 hex digits",
        "tenantId": "give the Microsoft Entra tenant (directory) id",
        "clientId": "give the app registration's Application (client) ID",
    ]

    private func checkURL(_ r: inout ConfigReader, _ key: String, _ value: String) {
        guard !value.isEmpty else { return }
        guard let parsed = EndpointURL(value) else {
            r.report(
                key, "\"\(URLRedaction.redact(value))\" is not an absolute http(s) URL",
                fix: "use an https URL, e.g. https://example.com")
            return
        }
        if parsed.scheme == "http" && !parsed.isLoopback {
            r.report(
                key,
                "\"\(URLRedaction.redact(value))\" must use https (plain http is allowed only for loopback addresses)",
                fix: "use an https URL")
        }
    }

    private static func stringMap(_ r: inout ConfigReader, _ key: String) -> [String: String] {
        guard let value = r.raw(key) else { return [:] }
        guard let members = value.objectValue else {
            r.report(key, "is \(value.typeName)", fix: "give an object of header names to strings")
            return [:]
        }
        var result: [String: String] = [:]
        for (name, v) in members {
            if let s = v.stringValue {
                result[name] = s
            } else {
                r.report("\(key).\(name)", "is \(v.typeName)", fix: "give a string")
            }
        }
        return result
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
        }
    }

    static func isHex(_ c: Character) -> Bool { c.isHexDigit && c.isASCII }

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
    public static func isGUID(_ s: String) -> Bool {
        let groups = s.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(isHex) }
    }

    /// `dcr-` and 32 hex digits.
    public static func isImmutableId(_ s: String) -> Bool {
        s.hasPrefix("dcr-") && s.count == 36 && s.dropFirst(4).allSatisfy(isHex)
    }

    public var json: JSONValue {
        func map(_ m: [String: String]) -> JSONValue {
            .object(m.sorted(by: { $0.key < $1.key }).map { ($0.key, .string($0.value)) })
        }
        return .object([
            ("type", .string(type.rawValue)),
            ("directory", .string(directory)),
            ("shutdownGraceSeconds", .double(shutdownGraceSeconds)),
            ("endpoint", .string(endpoint)),
            ("dcrImmutableId", .string(dcrImmutableId)),
            ("streamName", .string(streamName)),
            ("tenantId", .string(tenantId)),
            ("clientId", .string(clientId)),
            ("clientSecretFile", .string(clientSecretFile)),
            ("authorityHost", .string(authorityHost)),
            ("scope", .string(scope)),
            ("url", .string(url)),
            ("format", .string(format)),
            ("headers", map(headers)),
            ("headersFromEnvironment", map(headersFromEnvironment)),
            ("timeoutSeconds", .double(timeoutSeconds)),
            ("concurrency", .int(concurrency)),
            ("maxBytesPerSecond", .int(maxBytesPerSecond)),
            ("budgetWindowSeconds", .double(budgetWindowSeconds)),
            ("caFile", .string(caFile)),
        ])
    }
}
