import EdgeLogCore

/// The HTTPS proxy from the environment (`https_proxy`, else `HTTPS_PROXY`), with `no_proxy` / `NO_PROXY`.
/// Calls to https URLs go through it with HTTP CONNECT (TLS stays end to end, verified against the real
/// host); loopback hosts and `no_proxy` matches go direct. The proxy URL is `http://[user:password@]host[:port]`
/// (port 1080 if absent, as curl); its password is a `Secret`.
public struct ProxySettings: Sendable, CustomStringConvertible {
    /// The proxy's host and port.
    public let host: String
    public let port: Int
    /// Basic credentials for the proxy, from the URL's user info.
    public let user: String?
    public let password: Secret?
    /// Hosts reached without the proxy.
    public let noProxy: NoProxy

    public init(host: String, port: Int, user: String? = nil, password: Secret? = nil, noProxy: NoProxy = NoProxy("")) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.noProxy = noProxy
    }

    /// nil when no HTTPS proxy is set. Throws on a proxy URL EdgeLog cannot use.
    public static func fromEnvironment(_ env: [String: String]) throws -> ProxySettings? {
        let pick = { (lower: String, upper: String) -> (String, String)? in
            if let v = env[lower], !v.isEmpty { return (lower, v) }
            if let v = env[upper], !v.isEmpty { return (upper, v) }
            return nil
        }
        guard let (variable, value) = pick("https_proxy", "HTTPS_PROXY") else { return nil }
        let noProxy = NoProxy(pick("no_proxy", "NO_PROXY")?.1 ?? "")
        var text = Substring(value)
        if let scheme = text.firstRange(of: "://") {
            let name = text[..<scheme.lowerBound].lowercased()
            guard name == "http" else {
                throw SinkSetupError(
                    "environment variable \(variable): a \(name):// proxy is not supported; use an http:// proxy (https calls still use TLS end to end through it)"
                )
            }
            text = text[scheme.upperBound...]
        }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
        var user: String?
        var password: Secret?
        if let at = text.lastIndex(of: "@") {
            let credentials = text[..<at]
            text = text[text.index(after: at)...]
            let parts = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            user = PercentEncoding.decode(String(parts[0]))
            password = Secret(parts.count > 1 ? PercentEncoding.decode(String(parts[1])) : "")
        }
        guard let parsed = EndpointURL("http://" + text) else {
            throw SinkSetupError(
                "environment variable \(variable): the proxy address is not host:port; use http://host:port")
        }
        return ProxySettings(
            host: parsed.host, port: parsed.explicitPort ?? 1080, user: user, password: password, noProxy: noProxy)
    }

    /// True if a call to `url` goes through the proxy.
    public func applies(to url: EndpointURL) -> Bool {
        url.scheme == "https" && !url.isLoopback && !noProxy.matches(host: url.host, port: url.port)
    }

    /// `http://host:port`, credentials left out.
    public var description: String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" + (user != nil ? " (with credentials)" : "")
    }
}
