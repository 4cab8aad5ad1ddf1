/// JSON string escapes, shared by the parsers (unescape) and the writers (escape).
public enum JSONEscapes {
    /// Decodes the escape sequence starting at `bytes[index]` (a backslash) into UTF-8 and appends it.
    /// Returns the number of input bytes consumed, or 0 if the sequence is invalid.
    /// A lone surrogate becomes U+FFFD, as a lenient decoder must not lose the rest of the line.
    @inlinable
    public static func unescape(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int, into out: inout [UInt8]) -> Int {
        guard index + 1 < bytes.count else { return 0 }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            guard let high = hex4(bytes, index + 2) else { return 0 }
            if high >= 0xD800 && high < 0xDC00 {
                if index + 11 < bytes.count, bytes[index + 6] == 0x5C, bytes[index + 7] == UInt8(ascii: "u"),
                    let low = hex4(bytes, index + 8), low >= 0xDC00 && low < 0xE000
                {
                    let scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    appendUTF8(scalar, to: &out)
                    return 12
                }
                appendUTF8(0xFFFD, to: &out)
                return 6
            }
            appendUTF8(high >= 0xDC00 && high < 0xE000 ? 0xFFFD : high, to: &out)
            return 6
        default: return 0
        }
        return 2
    }

    public static func unescape(_ bytes: [UInt8], at index: Int, into out: inout [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { unescape($0, at: index, into: &out) }
    }

    @inlinable
    static func hex4(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int) -> UInt32? {
        guard start + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for i in start..<(start + 4) {
            let c = bytes[i]
            let digit: UInt8
            switch c {
            case 0x30...0x39: digit = c - 0x30
            case 0x41...0x46: digit = c - 0x41 + 10
            case 0x61...0x66: digit = c - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    @inlinable
    public static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (scalar >> 6)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (scalar >> 12)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (scalar >> 18)))
            out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }
}
