import AsyncHTTPClient
import EdgeLogCore
import NIOCore
import NIOHTTP1
import NIOSSL

/// HTTP/1.1 and HTTP/2 over AsyncHTTPClient for the sinks: TLS always verified (system trust store plus
/// `caFile`), redirects never followed (a redirect would carry the bearer token elsewhere), the HTTPS
/// proxy used for the hosts it applies to, one deadline per call.
public final class HTTPTransport: Sendable {
    /// What came back: status, headers and at most `maxBodyBytes` of the body.
    public struct Response: Sendable {
        /// The HTTP status code.
        public let status: Int
        /// The answer's headers, as received.
        public let headers: [(String, String)]
        /// The body, cut at `maxBodyBytes`.
        public let body: [UInt8]

        /// The first header named `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
        /// The body as text (invalid UTF-8 replaced).
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// Error bodies are kept up to this size (for logs and dead letters).
    public static let maxBodyBytes = 64 << 10

    private let direct: HTTPClient
    private let proxied: HTTPClient?
    private let proxy: ProxySettings?
    /// The deadline of one call.
    public let timeout: Duration

    /// - Parameters:
    ///   - caFile: PEM certificates trusted in addition to the system's, or nil.
    ///   - proxy: the HTTPS proxy (`ProxySettings.fromEnvironment`), or nil.
    ///   - timeout: the whole call, from connecting to the end of the answer (body included).
    public init(caFile: String?, proxy: ProxySettings?, timeout: Duration) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .fullVerification
        if let caFile, !caFile.isEmpty {
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            } catch {
                throw SinkSetupError(
                    "sink.caFile: \(caFile) cannot be read as PEM certificates (\(error)); give a PEM file")
            }
        }
        let seconds = Int64(timeout.components.seconds) + (timeout.components.attoseconds > 0 ? 1 : 0)
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(min(seconds, 10)), read: .seconds(seconds)),
            connectionPool: HTTPClient.Configuration.ConnectionPool(), proxy: nil)
        configuration.decompression = .disabled
        direct = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        if let proxy {
            var viaProxy = configuration
            let authorization = proxy.user.map {
                HTTPClient.Authorization.basic(username: $0, password: proxy.password?.exposed ?? "")
            }
            viaProxy.proxy = .server(host: proxy.host, port: proxy.port, authorization: authorization)
            proxied = HTTPClient(eventLoopGroupProvider: .singleton, configuration: viaProxy)
        } else {
            proxied = nil
        }
        self.proxy = proxy
        self.timeout = timeout
    }

    deinit {
        // The clients must be shut down before they go; nothing waits for it.
        direct.shutdown { _ in }
        proxied?.shutdown { _ in }
    }

    /// Whether calls to `url` go through the proxy.
    public func usesProxy(for url: EndpointURL) -> Bool {
        guard let proxy, proxied != nil else { return false }
        return proxy.applies(to: url)
    }

    /// The call took longer than `timeout`, answer included: it was abandoned (the connection is closed).
    public struct CallTimedOut: Error, Sendable, CustomStringConvertible {
        public let timeout: Duration
        public var description: String { "no complete answer within \(timeout)" }
    }

    /// POSTs `body`. Throws on connection failures and timeouts; any HTTP status is a `Response`.
    ///
    /// `timeout` covers the whole call: connecting, sending, the answer's head and its body. A call past it is
    /// abandoned (`CallTimedOut`) however the server trickles its answer. Of the body at most `maxBodyBytes` are
    /// read; the rest is not waited for (the connection is closed instead of being drained).
    public func post(_ url: String, headers: [(String, String)], body: [UInt8]) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let client = EndpointURL(url).map { usesProxy(for: $0) } == true ? proxied! : direct
        let timeout = self.timeout
        let deadline =
            NIODeadline.now()
            + .nanoseconds(
                Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        let call = request
        return try await Self.within(timeout) {
            let response = try await client.execute(call, deadline: deadline)
            var kept: [UInt8] = []
            for try await part in response.body {
                let room = Self.maxBodyBytes - kept.count
                kept.append(contentsOf: part.readableBytesView.prefix(room))
                // Enough for logs and dead letters: the rest is not read (leaving the loop cancels the request).
                if kept.count >= Self.maxBodyBytes { break }
            }
            return Response(
                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: kept)
        }
    }

    /// `work`, or `CallTimedOut` once `timeout` has passed (the work is cancelled then). Cancelling the caller
    /// cancels the work.
    static func within<T: Sendable>(
        _ timeout: Duration, _ work: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw CallTimedOut(timeout: timeout) }
            return value
        }
    }
}
