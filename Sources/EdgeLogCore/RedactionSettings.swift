/// The `redaction` section: patterns replaced in every message before it is encoded, so they never leave the
/// device. The built-in rules (`defaults`) cover the secrets IoT Edge and Azure put in connection strings, SAS
/// tokens and HTTP headers; `rules` adds the admin's own, applied after them.
public struct RedactionSettings: Sendable, Equatable {
    /// Apply `builtIn` first.
    public var defaults = true
    public var rules: [RedactionRule] = []

    static let maxRules = 64

    public init() {}

    /// Secrets that IoT Edge modules and Azure SDKs are known to log, each kept recognisable (the key name stays,
    /// the value goes). Case-insensitive; values end at a separator (`;`, `&`, `,`, quotes, white space).
    public static let builtIn: [RedactionRule] = [
        // Device and module connection strings (`HostName=…;DeviceId=…;SharedAccessKey=<base64>`), also
        // EdgeHubConnectionString and the IoT Hub service's.
        RedactionRule(pattern: #"(?i)\b(SharedAccessKey=)[^;&,\s"']+"#, replacement: "$1<redacted>"),
        // Azure Storage connection strings (the blob storage module, SDK logs).
        RedactionRule(pattern: #"(?i)\b(AccountKey=)[^;&,\s"']+"#, replacement: "$1<redacted>"),
        // SAS tokens as IoT Hub takes them: `SharedAccessSignature sr=…&sig=…&se=…&skn=…`.
        RedactionRule(pattern: #"(?i)\b(SharedAccessSignature\s+)[^;,\s"']+"#, replacement: "$1<redacted>"),
        // The signature of any other SAS token or URL (storage `?sv=…&sig=…`).
        RedactionRule(pattern: #"(?i)\b(sig=)[^&;,\s"']+"#, replacement: "$1<redacted>"),
        // `Authorization: Bearer <token>`, and bearer tokens elsewhere (16 characters or more, so that "the bearer
        // of" stays).
        RedactionRule(pattern: #"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{16,}=*"#, replacement: "$1<redacted>"),
        // `Authorization: Basic <base64>`.
        RedactionRule(pattern: #"(?i)\b(authorization:\s*basic\s+)[A-Za-z0-9+/]+=*"#, replacement: "$1<redacted>"),
        // Entra client credentials in a form body or query (`client_secret=…`).
        RedactionRule(pattern: #"(?i)\b(client_secret=)[^&;,\s"']+"#, replacement: "$1<redacted>"),
        // A JSON Web Token on its own (an access or id token printed without its header).
        RedactionRule(pattern: #"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"#, replacement: "<redacted-jwt>"),
    ]

    /// The rules in force, in order.
    public var effectiveRules: [RedactionRule] { (defaults ? Self.builtIn : []) + rules }

    init(reading r: inout ConfigReader) {
        defaults = r.bool("defaults", defaults)
        if let read = r.objects("rules", max: Self.maxRules, fix: "give a list of {\"pattern\": …, \"replacement\": …}", RedactionRule.init(reading:)) {
            rules = read
        }
    }

    public var json: JSONValue {
        .object([("defaults", .bool(defaults)), ("rules", .array(rules.map(\.json)))])
    }
}

/// One redaction: every match of `pattern` in a message is replaced by `replacement`, in which `$1`…`$9` stand
/// for the pattern's groups (`$0` the whole match) and `$$` for a dollar sign.
public struct RedactionRule: Sendable, Equatable {
    public var pattern: String
    public var replacement: String

    public static let defaultReplacement = "<redacted>"

    public init(pattern: String, replacement: String = Self.defaultReplacement) {
        self.pattern = pattern
        self.replacement = replacement
    }

    init(reading r: inout ConfigReader) {
        pattern = r.string("pattern", "", allowEmpty: false)
        replacement = r.string("replacement", Self.defaultReplacement)
        if replacement.utf8.count > Redactor.maxReplacementBytes {
            r.report(
                "replacement", "is \(replacement.utf8.count) bytes long",
                fix: "use at most \(Redactor.maxReplacementBytes) bytes")
        }
        if r.raw("pattern") == nil {
            r.report("pattern", "is missing", fix: "give a regular expression, e.g. \"(?i)(password=)\\\\S+\"")
            return
        }
        guard !pattern.isEmpty else { return }
        do {
            let regex = try Regex(pattern)
            if regex.canMatchEmpty {
                r.report(
                    "pattern", "\(FilterRule.quoted(pattern)) can match an empty string",
                    fix: "make it match at least one character (use + rather than *)")
            }
            if let problem = Self.replacementProblem(replacement, groups: regex.groupCount) {
                r.report("replacement", problem.0, fix: problem.1)
            }
        } catch {
            r.report(
                "pattern", "\(FilterRule.quoted(pattern)) is not a supported regular expression: \(error)",
                fix: "use literals, ., [classes], \\d \\w \\s \\b, ^ $, groups, |, * + ? {m,n} and (?i) (see docs/filters.md)")
        }
    }

    public var json: JSONValue {
        .object([("pattern", .string(pattern)), ("replacement", .string(replacement))])
    }

    /// The replacement as literal text and group references.
    enum Piece: Sendable, Equatable {
        case text([UInt8])
        case group(Int)
    }

    static func pieces(_ replacement: String) -> [Piece] {
        var pieces: [Piece] = []
        var text: [UInt8] = []
        let bytes = Array(replacement.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "$"), i + 1 < bytes.count {
                let next = bytes[i + 1]
                if next == UInt8(ascii: "$") {
                    text.append(next)
                    i += 2
                    continue
                }
                if next >= 0x30 && next <= 0x39 {
                    if !text.isEmpty { pieces.append(.text(text)) }
                    text = []
                    pieces.append(.group(Int(next - 0x30)))
                    i += 2
                    continue
                }
            }
            text.append(bytes[i])
            i += 1
        }
        if !text.isEmpty { pieces.append(.text(text)) }
        return pieces
    }

    static func replacementProblem(_ replacement: String, groups: Int) -> (String, String)? {
        for case .group(let g) in pieces(replacement) where g > groups {
            return (
                "refers to group $\(g) but the pattern has \(groups) group(s)",
                "use $0…$\(groups), or $$ for a dollar sign"
            )
        }
        return nil
    }
}
