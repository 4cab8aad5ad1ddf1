/// JSON string escapes, shared by the parsers (unescape) and the writers (escape).
public enum JSONEscapes {
    /// Decodes the escape sequence starting at `base[index]` (a backslash; `count` bytes readable from `base`)
    /// into UTF-8 at `dest`, which has room for 4 bytes. Returns the number of input bytes consumed (0 if the
    /// sequence is invalid or cut by the end of the bytes) and the number of bytes written.
    /// A lone surrogate becomes U+FFFD, as a lenient decoder must not lose the rest of the line.
    /// The one unescaper: the JSON parser and the Docker json-file decoder's hot path both decode with it.
    @inlinable
    @inline(__always)
    public static func unescape(
        _ base: UnsafePointer<UInt8>, count: Int, at index: Int, to dest: UnsafeMutablePointer<UInt8>
    ) -> (consumed: Int, written: Int) {
        guard index + 1 < count else { return (0, 0) }
        let e = base[index + 1]
        if let simple = simpleEscape(e) {
            dest[0] = simple
            return (2, 1)
        }
        guard e == UInt8(ascii: "u"), let high = hex4(base, count, index + 2) else { return (0, 0) }
        var scalar = high
        var consumed = 6
        if high >= 0xD800 && high < 0xDC00 {
            if index + 11 < count, base[index + 6] == 0x5C, base[index + 7] == UInt8(ascii: "u"),
                let low = hex4(base, count, index + 8), low >= 0xDC00 && low < 0xE000
            {
                scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                consumed = 12
            } else {
                scalar = 0xFFFD
            }
        } else if high >= 0xDC00 && high < 0xE000 {
            scalar = 0xFFFD
        }
        return (consumed, writeUTF8(scalar, to: dest))
    }

    /// Decodes the escape sequence starting at `bytes[index]` (a backslash) into UTF-8 and appends it.
    /// Returns the number of input bytes consumed, or 0 if the sequence is invalid.
    @inlinable
    public static func unescape(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int, into out: inout [UInt8]) -> Int {
        guard index + 1 < bytes.count, let base = bytes.baseAddress else { return 0 }
        var scratch: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        let result = withUnsafeMutableBytes(of: &scratch) { s in
            unescape(base, count: bytes.count, at: index, to: s.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard result.consumed > 0 else { return 0 }
        withUnsafeBytes(of: scratch) { out.append(contentsOf: $0.prefix(result.written)) }
        return result.consumed
    }

    public static func unescape(_ bytes: [UInt8], at index: Int, into out: inout [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { unescape($0, at: index, into: &out) }
    }

    /// The value of the 4 hex digits at `start`, or nil.
    @inlinable
    @inline(__always)
    static func hex4(_ base: UnsafePointer<UInt8>, _ count: Int, _ start: Int) -> UInt32? {
        guard start + 4 <= count else { return nil }
        var value: UInt32 = 0
        for k in start..<(start + 4) {
            let c = base[k]
            let digit: UInt8
            switch c {
            case 0x30...0x39: digit = c &- 0x30
            case 0x41...0x46: digit = c &- 0x41 &+ 10
            case 0x61...0x66: digit = c &- 0x61 &+ 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// The byte a one-character escape (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`) stands for.
    @inlinable
    @inline(__always)
    static func simpleEscape(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "n"): return 0x0A
        case 0x22: return 0x22
        case 0x5C: return 0x5C
        case UInt8(ascii: "t"): return 0x09
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "/"): return 0x2F
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        default: return nil
        }
    }

    /// Writes the UTF-8 form of `scalar` (not a surrogate, at most 0x10FFFF) and returns its length (1 to 4).
    @inlinable
    @inline(__always)
    public static func writeUTF8(_ scalar: UInt32, to dest: UnsafeMutablePointer<UInt8>) -> Int {
        switch scalar {
        case 0..<0x80:
            dest[0] = UInt8(truncatingIfNeeded: scalar)
            return 1
        case 0x80..<0x800:
            dest[0] = UInt8(truncatingIfNeeded: 0xC0 | (scalar >> 6))
            dest[1] = UInt8(truncatingIfNeeded: 0x80 | (scalar & 0x3F))
            return 2
        case 0x800..<0x10000:
            dest[0] = UInt8(truncatingIfNeeded: 0xE0 | (scalar >> 12))
            dest[1] = UInt8(truncatingIfNeeded: 0x80 | ((scalar >> 6) & 0x3F))
            dest[2] = UInt8(truncatingIfNeeded: 0x80 | (scalar & 0x3F))
            return 3
        default:
            dest[0] = UInt8(truncatingIfNeeded: 0xF0 | (scalar >> 18))
            dest[1] = UInt8(truncatingIfNeeded: 0x80 | ((scalar >> 12) & 0x3F))
            dest[2] = UInt8(truncatingIfNeeded: 0x80 | ((scalar >> 6) & 0x3F))
            dest[3] = UInt8(truncatingIfNeeded: 0x80 | (scalar & 0x3F))
            return 4
        }
    }

    /// Appends the UTF-8 form of `scalar` to `out`.
    @inlinable
    public static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        var scratch: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        let written = withUnsafeMutableBytes(of: &scratch) { s in
            writeUTF8(scalar, to: s.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        withUnsafeBytes(of: scratch) { out.append(contentsOf: $0.prefix(written)) }
    }
}
