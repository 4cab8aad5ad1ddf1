/// When a cached access token is used, renewed ahead of its expiry, or must be fetched: pure state, no I/O,
/// with the time passed in (a `Duration` on the provider's `ElapsedClock`). Entra tokens live 60–90 minutes and come with no refresh token, so a new one is
/// fetched with the client credentials `renewAhead` before `expires_in` runs out (at most half the lifetime
/// ahead for short-lived tokens). While the renewal fails transiently the old token is used until it expires.
public struct TokenCache: Sendable {
    /// The token in use and when to renew and drop it.
    public struct Entry: Sendable {
        /// The bearer token.
        public let token: Secret
        /// From here on a renewal is attempted.
        public let renewAt: Duration
        /// From here on the token is not used.
        public let expiresAt: Duration
    }

    /// How long before expiry a token is renewed (at most half its lifetime).
    public static let renewAhead: Duration = .seconds(300)
    /// The cached token, if any.
    public private(set) var entry: Entry?

    /// An empty cache.
    public init() {}

    /// Keeps a token fetched at `fetchedAt` (taken before the request went out) valid for `lifetime`.
    public mutating func store(_ token: Secret, lifetime: Duration, fetchedAt: Duration) {
        let ahead = min(Self.renewAhead, lifetime / 2)
        entry = Entry(token: token, renewAt: fetchedAt + lifetime - ahead, expiresAt: fetchedAt + lifetime)
    }

    /// What to do for the next call.
    public enum Decision: Sendable, Equatable {
        /// Use it as it is.
        case use(Secret)
        /// Fetch a new one; `fallback` is still valid if that fails transiently.
        case renew(fallback: Secret?)
    }

    /// What to do at `now`.
    public func decide(now: Duration) -> Decision {
        guard let entry, now < entry.expiresAt else { return .renew(fallback: nil) }
        return now < entry.renewAt ? .use(entry.token) : .renew(fallback: entry.token)
    }

    /// The upstream refused `token` (401): drop it, unless a newer one replaced it meanwhile.
    public mutating func invalidate(_ token: Secret) {
        if entry?.token == token { entry = nil }
    }
}
