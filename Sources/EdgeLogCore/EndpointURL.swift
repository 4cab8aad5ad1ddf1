/// An absolute `http`/`https` URL taken apart: enough to validate a sink's endpoint, decide on a proxy and
/// build request URLs. No user info, no fragment. IPv6 literals are written in brackets (`https://[::1]:8443`).
public struct EndpointURL: Sendable, Equatable, CustomStringConvertible {
    /// `http` or `https`, lower case.
    public let scheme: String
    /// The host as written, lower case, without brackets for IPv6 literals.
    public let host: String
    /// The explicit port, or nil for the scheme's default.
    public let explicitPort: Int?
    /// The path and query as written (`/` if empty).
    public let pathAndQuery: String

    /// Parses `text`; nil if it is not an absolute http(s) URL with a host.
    public init?(_ text: String) {
        guard let schemeEnd = text.firstRange(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        var rest = text[schemeEnd.upperBound...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if path.isEmpty || path.hasPrefix("?") { path = "/" + path }
        guard !authority.isEmpty, !authority.contains("@"), !path.contains(" ") else { return nil }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { return nil }
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else { return nil }
            explicitPort = port
        } else {
            explicitPort = nil
        }
        self.scheme = scheme
        self.host = host.lowercased()
        self.pathAndQuery = path
    }

    /// The port connections go to.
    public var port: Int { explicitPort ?? (scheme == "https" ? 443 : 80) }

    /// True for `localhost`, 127.0.0.0/8 and ::1: the only hosts plain http is allowed to.
    public var isLoopback: Bool {
        if host == "localhost" || host == "localhost." || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// `scheme://host[:port]` with no path.
    public var origin: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return scheme + "://" + h + (explicitPort.map { ":\($0)" } ?? "")
    }

    /// The URL with `path` (starting with `/`) appended to this URL's path, trailing slashes merged.
    public func appending(path suffix: String) -> String {
        var base = pathAndQuery
        while base.hasSuffix("/") { base.removeLast() }
        return origin + base + suffix
    }

    public var description: String { origin + (pathAndQuery == "/" ? "" : pathAndQuery) }
}
