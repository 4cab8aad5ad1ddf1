/// A credential (client secret, access token, header value, proxy password). It prints as `<redacted>`
/// everywhere (string interpolation, `debugPrint`, `dump`, mirrors), so it cannot end up in a log line,
/// an error or a status document by accident; only `exposed` gives the value, at the one place it is sent.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    /// Wraps a value; from here on it prints as `<redacted>`.
    public init(_ value: String) { self.value = value }

    /// The value itself: only for putting it on the wire.
    public var exposed: String { value }
    /// True if the value is the empty string.
    public var isEmpty: Bool { value.isEmpty }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
