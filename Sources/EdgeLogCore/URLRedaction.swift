/// URLs as EdgeLog shows them in log lines, errors, reported properties and dead-letter reasons: the user info,
/// the query string and the fragment are replaced by `<redacted>`, because any of them may carry a credential
/// (`https://collector.example/ingest?token=…`, `https://user:password@proxy`). Scheme, host, port and path stay,
/// so the line still says where EdgeLog was talking to.
public enum URLRedaction {
    public static let marker = "<redacted>"

    /// `url` with its user info, query and fragment replaced (`https://<redacted>@host/path?<redacted>`).
    /// Text that is not a URL comes back unchanged.
    public static func redact(_ url: String) -> String {
        redactURLs(in: url)
    }

    /// Every `scheme://…` URL inside `text` redacted as `redact(_:)` does; the rest of the text unchanged.
    /// A URL ends at white space, a quote, `<`, `>` or a backslash (it is written inside a message or a JSON string).
    public static func redactURLs(in text: String) -> String {
        guard text.utf8.count >= 4, containsSeparator(text.utf8) else { return text }
        var bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        var changed = false
        while i < bytes.count {
            // Find the next "://" and the scheme in front of it.
            guard let sep = find(bytes, from: i) else { break }
            var schemeStart = sep
            while schemeStart > i && isSchemeByte(bytes[schemeStart - 1]) { schemeStart -= 1 }
            guard schemeStart < sep, isLetter(bytes[schemeStart]) else {
                out.append(contentsOf: bytes[i..<(sep + 3)])
                i = sep + 3
                continue
            }
            out.append(contentsOf: bytes[i..<(sep + 3)])
            var j = sep + 3
            var end = j
            while end < bytes.count && !isURLEnd(bytes[end]) { end += 1 }
            // Authority: up to the first '/', '?' or '#'.
            var authorityEnd = j
            while authorityEnd < end && bytes[authorityEnd] != 0x2F && bytes[authorityEnd] != 0x3F
                && bytes[authorityEnd] != 0x23
            {
                authorityEnd += 1
            }
            if let at = bytes[j..<authorityEnd].lastIndex(of: 0x40) {
                out.append(contentsOf: Array(marker.utf8))
                j = at  // keep '@' and the host
                changed = true
            }
            out.append(contentsOf: bytes[j..<authorityEnd])
            j = authorityEnd
            // Path up to '?' or '#'.
            var pathEnd = j
            while pathEnd < end && bytes[pathEnd] != 0x3F && bytes[pathEnd] != 0x23 { pathEnd += 1 }
            out.append(contentsOf: bytes[j..<pathEnd])
            if pathEnd < end {
                out.append(bytes[pathEnd])  // '?' or '#'
                out.append(contentsOf: Array(marker.utf8))
                changed = true
            }
            i = end
        }
        guard changed else { return text }
        if i < bytes.count { out.append(contentsOf: bytes[i...]) }
        bytes = out
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func containsSeparator(_ utf8: String.UTF8View) -> Bool {
        var previous: (UInt8, UInt8) = (0, 0)
        for b in utf8 {
            if previous.0 == 0x3A && previous.1 == 0x2F && b == 0x2F { return true }
            previous = (previous.1, b)
        }
        return false
    }

    private static func find(_ bytes: [UInt8], from start: Int) -> Int? {
        var k = start
        while k + 2 < bytes.count {
            if bytes[k] == 0x3A && bytes[k + 1] == 0x2F && bytes[k + 2] == 0x2F { return k }
            k += 1
        }
        return nil
    }

    private static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }

    private static func isSchemeByte(_ b: UInt8) -> Bool {
        isLetter(b) || (b >= 0x30 && b <= 0x39) || b == 0x2B || b == 0x2D || b == 0x2E
    }

    private static func isURLEnd(_ b: UInt8) -> Bool {
        b <= 0x20 || b == 0x22 || b == 0x27 || b == 0x3C || b == 0x3E || b == 0x5C || b == 0x60 || b == 0x7F
    }
}
