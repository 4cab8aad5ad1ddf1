/// Byte-level JSON output for the hot path and for documents.
public enum JSONWriter {
    /// Appends `bytes` as the contents of a JSON string (without the quotes): escapes what JSON requires
    /// and replaces every invalid UTF-8 sequence with U+FFFD. Returns the number of replacements made.
    @inlinable
    @discardableResult
    public static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) -> Int {
        var replaced = 0
        var runStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            if c >= 0x20 && c < 0x80 && c != 0x22 && c != 0x5C {
                i += 1
                continue
            }
            if c < 0x80 {
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                appendControlEscape(c, to: &out)
                i += 1
                runStart = i
                continue
            }
            let length = validUTF8SequenceLength(bytes, at: i)
            if length > 0 {
                i += length
                continue
            }
            if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
            out.append(0xEF)  // U+FFFD
            out.append(0xBF)
            out.append(0xBD)
            replaced += 1
            i += 1
            runStart = i
        }
        if runStart < n { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n])) }
        return replaced
    }

    @inlinable
    @discardableResult
    public static func appendEscaped(_ bytes: [UInt8], to out: inout [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { appendEscaped($0, to: &out) }
    }

    @inlinable
    public static func appendEscaped(_ string: String, to out: inout [UInt8]) {
        var string = string
        string.withUTF8 { _ = appendEscaped($0, to: &out) }
    }

    /// Appends `"string"`.
    @inlinable
    public static func appendQuoted(_ string: String, to out: inout [UInt8]) {
        out.append(0x22)
        appendEscaped(string, to: &out)
        out.append(0x22)
    }

    // No array literals in @inlinable code: Swift 6.3 -O outlines them as weak globals named after the
    // function and numbered per module, so two modules that inline this can number them differently and
    // the linker keeps one module's table for both (a release build wrote `"` as `\f`). Scalar appends
    // cannot collide.
    @inlinable
    static func appendControlEscape(_ c: UInt8, to out: inout [UInt8]) {
        out.append(0x5C)
        switch c {
        case 0x22: out.append(0x22)
        case 0x5C: out.append(0x5C)
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x09: out.append(UInt8(ascii: "t"))
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        default:
            out.append(UInt8(ascii: "u"))
            out.append(0x30)
            out.append(0x30)
            out.append(hexDigit(c >> 4))
            out.append(hexDigit(c & 0xF))
        }
    }

    @inlinable
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 &+ nibble : 0x61 &+ (nibble &- 10)
    }

    /// Length of the valid UTF-8 sequence starting at `i` (a byte >= 0x80), or 0 if it is invalid
    /// (bad lead, missing continuation, overlong form, surrogate, or above U+10FFFF).
    @inlinable
    public static func validUTF8SequenceLength(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let c = b[i]
        let n = b.count
        @inline(__always) func cont(_ j: Int) -> Bool { j < n && b[j] & 0xC0 == 0x80 }
        switch c {
        case 0xC2...0xDF:
            return cont(i + 1) ? 2 : 0
        case 0xE0:
            return i + 1 < n && b[i + 1] >= 0xA0 && b[i + 1] <= 0xBF && cont(i + 2) ? 3 : 0
        case 0xED:
            return i + 1 < n && b[i + 1] >= 0x80 && b[i + 1] <= 0x9F && cont(i + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF:
            return cont(i + 1) && cont(i + 2) ? 3 : 0
        case 0xF0:
            return i + 1 < n && b[i + 1] >= 0x90 && b[i + 1] <= 0xBF && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF1...0xF3:
            return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF4:
            return i + 1 < n && b[i + 1] >= 0x80 && b[i + 1] <= 0x8F && cont(i + 2) && cont(i + 3) ? 4 : 0
        default:
            return 0
        }
    }

    /// The largest prefix length `<= limit` of `bytes` that does not cut a UTF-8 sequence in two.
    public static func utf8SafePrefixLength(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int) -> Int {
        guard limit < bytes.count else { return bytes.count }
        var cut = max(0, limit)
        // Step back over continuation bytes to the start of the sequence the cut falls in.
        var back = 0
        while cut > 0, back < 3, bytes[cut] & 0xC0 == 0x80 {
            cut -= 1
            back += 1
        }
        return cut
    }
}

extension JSONValue {
    /// Serialises the document: compact, or indented by two spaces.
    public func serialized(pretty: Bool = false) -> String {
        var out: [UInt8] = []
        write(to: &out, pretty: pretty, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(to out: inout [UInt8], pretty: Bool = false, indent: Int = 0) {
        func newline(_ level: Int) {
            guard pretty else { return }
            out.append(0x0A)
            out.append(contentsOf: repeatElement(0x20, count: level * 2))
        }
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            if d.isFinite { out.append(contentsOf: (d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : "\(d)").utf8) }
            else { out.append(contentsOf: "null".utf8) }
        case .string(let s): JSONWriter.appendQuoted(s, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                element.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if !elements.isEmpty { newline(indent) }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                JSONWriter.appendQuoted(key, to: &out)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(0x20) }
                value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if !members.isEmpty { newline(indent) }
            out.append(UInt8(ascii: "}"))
        }
    }
}
