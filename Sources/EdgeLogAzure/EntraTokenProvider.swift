import EdgeLogCore
import Logging

/// Access tokens from Microsoft Entra with the client credentials grant:
/// `POST {authorityHost}/{tenantId}/oauth2/v2.0/token` with
/// `grant_type=client_credentials&client_id=…&client_secret=…&scope=…`. Cached and renewed ahead of expiry
/// (`TokenCache`); concurrent callers share one request.
public actor EntraTokenProvider {
    /// Why no token could be had.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// The token endpoint could not be reached or answered 5xx/429: try again later.
        case transient(String, retryAfter: Duration?)
        /// The token endpoint refused the credentials or the request: a configuration error.
        case refused(String)

        public var description: String {
            switch self {
            case .transient(let reason, _): return reason
            case .refused(let reason): return reason
            }
        }
    }

    let tokenURL: String
    let clientId: String
    let secret: Secret
    let scope: String
    let transport: HTTPTransport
    let logger: Logger
    /// Expiry, renewal and the memory of a refusal are measured on this clock.
    let clock: ElapsedClock
    private var cache = TokenCache()
    private var pending: Task<Secret, any Error>?
    /// A refusal of the credentials is remembered this long: batches behind it fail the same way without
    /// asking the token endpoint again for each (a wrong or expired secret only changes with a restart).
    static let refusalMemory: Duration = .seconds(30)
    private var refused: (until: Duration, failure: Failure)?
    /// Tokens fetched so far (for tests and status).
    public private(set) var fetched = 0

    /// - Parameters: the token URL (`SinkSettings.tokenURL`), the app registration's client id and secret, the
    ///   scope, the transport the requests go through, where renewal problems are logged, and the clock token
    ///   lifetimes are measured on (tests give a manual one).
    public init(
        tokenURL: String, clientId: String, secret: Secret, scope: String, transport: HTTPTransport, logger: Logger,
        clock: ElapsedClock = .continuous
    ) {
        self.tokenURL = tokenURL
        self.clientId = clientId
        self.secret = secret
        self.scope = scope
        self.transport = transport
        self.logger = logger
        self.clock = clock
    }

    /// A token valid now: the cached one, or a new one.
    public func token() async throws(Failure) -> Secret {
        let fallback: Secret?
        switch cache.decide(now: clock.now()) {
        case .use(let token): return token
        case .renew(let old): fallback = old
        }
        if let refused, clock.now() < refused.until { throw refused.failure }
        let task: Task<Secret, any Error>
        if let pending {
            task = pending
        } else {
            task = Task { try await self.fetch() }
            pending = task
        }
        do {
            let token = try await task.value
            pending = nil
            return token
        } catch {
            pending = nil
            let failure = error as? Failure ?? .transient("token request failed: \(error)", retryAfter: nil)
            if case .refused = failure { refused = (clock.now() + Self.refusalMemory, failure) }
            if case .transient = failure, let fallback, case .renew(let still?) = cache.decide(now: clock.now()),
                still == fallback
            {
                logger.warning("cannot renew the access token yet (\(failure)); the current one is still valid")
                return fallback
            }
            throw failure
        }
    }

    /// The upstream answered 401 with `token`: the next `token()` fetches a new one.
    public func invalidate(_ token: Secret) { cache.invalidate(token) }

    private func fetch() async throws -> Secret {
        let started = clock.now()
        let form = [
            ("grant_type", "client_credentials"), ("client_id", clientId), ("client_secret", secret.exposed),
            ("scope", scope),
        ].map { "\($0.0)=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
        let response: HTTPTransport.Response
        do {
            response = try await transport.post(
                tokenURL,
                headers: [
                    ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
                    ("client-request-id", RequestID.make()),
                ],
                body: Array(form.utf8))
        } catch {
            throw Failure.transient(
                "token endpoint \(URLRedaction.redact(tokenURL)) unreachable: \(HTTPFailure.describe(error, timeout: transport.timeout))",
                retryAfter: nil)
        }
        let document = try? JSONParser.parse(response.body)
        guard response.status == 200 else {
            var reason = "token endpoint answered HTTP \(response.status)"
            if let code = document?["error"]?.stringValue { reason += " \(code)" }
            if let text = document?["error_description"]?.stringValue {
                reason += ": " + String(text.split(whereSeparator: { $0.isNewline }).first ?? "").prefix(300)
            }
            if response.status == 429 || response.status >= 500 {
                throw Failure.transient(
                    reason, retryAfter: response.header("Retry-After").flatMap { RetryAfter.parse($0) })
            }
            throw Failure.refused(
                reason + " (check sink.tenantId, sink.clientId, the client secret, sink.authorityHost and sink.scope)")
        }
        guard let token = document?["access_token"]?.stringValue, !token.isEmpty else {
            throw Failure.transient("token endpoint answered 200 without an access_token", retryAfter: nil)
        }
        let lifetime: Int64
        if let n = document?["expires_in"]?.intValue {
            lifetime = n
        } else if let s = document?["expires_in"]?.stringValue, let n = Int64(s) {
            lifetime = n
        } else {
            lifetime = 3599
        }
        let secretToken = Secret(token)
        cache.store(secretToken, lifetime: .seconds(max(1, lifetime)), fetchedAt: started)
        fetched += 1
        logger.debug("access token fetched, valid for \(lifetime) s")
        return secretToken
    }
}
