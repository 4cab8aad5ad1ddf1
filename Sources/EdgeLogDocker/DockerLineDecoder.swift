import EdgeLogCore

/// The `stream` member of a Docker json-file log line.
public enum DockerStream: Sendable, Equatable {
    case stdout, stderr, other
}

/// One decoded line of Docker's json-file log driver. Its buffers are reused from line to line.
public struct DockerLine: Sendable {
    /// The unescaped bytes of "log". `\u` escapes are decoded to UTF-8; raw bytes are copied as given,
    /// so this may hold invalid UTF-8 (the record encoder replaces invalid sequences later).
    public var log: [UInt8]
    /// `.other` when absent or neither "stdout" nor "stderr".
    public var stream: DockerStream
    /// The unescaped bytes of "time" (empty when absent or not a string).
    public var time: [UInt8]
    /// The raw JSON text of the "attrs" value, verbatim, only if it is an object; else empty.
    public var attrs: [UInt8]

    public init() {
        log = []
        stream = .other
        time = []
        attrs = []
    }

    @inline(__always)
    mutating func reset() {
        log.clearKeepingCapacity()
        stream = .other
        time.clearKeepingCapacity()
        attrs.clearKeepingCapacity()
    }
}

extension Array where Element == UInt8 {
    /// `removeAll(keepingCapacity: true)`, skipped when already empty (it is not free).
    @inline(__always)
    fileprivate mutating func clearKeepingCapacity() {
        if !isEmpty { removeAll(keepingCapacity: true) }
    }
}

/// Why a line could not be decoded, and the byte offset (from the start of the line) where that was found.
public struct DockerLineError: Error, Sendable, Equatable, CustomStringConvertible {
    public let offset: Int
    public let reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid Docker log line at byte \(offset): \(reason)" }
}

/// Hand-written decoder for one line of Docker's json-file log driver:
/// `{"log":"…","stream":"stdout|stderr","time":"…"[,"attrs":{…}]}`.
///
/// Members may come in any order; unknown members are skipped with a validating skipper; for duplicate
/// members the last one wins. No per-line heap allocation once the `DockerLine` buffers are warm
/// (except for member names written with escapes, which never happens with Docker's own output).
public enum DockerLineDecoder {
    /// Nesting limit for skipped values (objects and arrays inside the line object).
    public static let maxDepth = 64

    /// Decodes one line (without its trailing newline; a trailing "\r" or whitespace is tolerated).
    /// Reuses `line`'s buffers. On error, the content of `line` is unspecified.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, into line: inout DockerLine) -> DockerLineError? {
        line.reset()
        var cursor = Cursor(bytes)
        do {
            try cursor.parseLine(into: &line)
            return nil
        } catch {
            return error
        }
    }

    /// Lenient decoding of the head of an over-long line: the line was cut after `bytes.count` bytes, so the
    /// "log" string may be unterminated. Returns true if a "log" value (possibly cut) was recovered into
    /// line.log (cut at a UTF-8 and escape boundary), and whatever of stream/time was seen before the cut.
    ///
    /// Leniency: raw control characters inside the cut "log" string are kept; an invalid escape ends the
    /// recovered value as a cut would. "stream" and "time" are only set from complete strings.
    public static func decodeHead(_ bytes: UnsafeBufferPointer<UInt8>, into line: inout DockerLine) -> Bool {
        line.reset()
        var cursor = Cursor(bytes)
        return cursor.parseHead(into: &line)
    }
}

// MARK: - Implementation

private enum Key {
    case log, stream, time, attrs, other
}

private enum Ch {
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
    static let openBracket: UInt8 = 0x5B
    static let closeBracket: UInt8 = 0x5D
    static let colon: UInt8 = 0x3A
    static let comma: UInt8 = 0x2C
    static let minus: UInt8 = 0x2D
    static let plus: UInt8 = 0x2B
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
}

private struct Cursor {
    let b: UnsafeBufferPointer<UInt8>
    let n: Int
    var i: Int = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        b = bytes
        n = bytes.count
    }

    // MARK: Errors

    @inline(never)
    func fail(_ offset: Int, _ reason: String) -> DockerLineError {
        DockerLineError(offset: offset, reason: reason)
    }

    @inline(never)
    func describe(_ c: UInt8) -> String {
        if c > 0x20 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x\(hex2(c))"
    }

    func hex2(_ c: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [digits[Int(c >> 4)], digits[Int(c & 0xF)]], as: UTF8.self)
    }

    @inline(never)
    func unexpected(_ expected: String) -> DockerLineError {
        if i >= n { return fail(i, "unexpected end of line, expected \(expected)") }
        return fail(i, "expected \(expected), found \(describe(b[i]))")
    }

    @inline(never)
    func escapeError(at j: Int) -> DockerLineError {
        guard j + 1 < n else { return fail(j, "unterminated escape sequence at end of line") }
        let c = b[j + 1]
        if c == UInt8(ascii: "u") {
            var k = j + 2
            while k < n, k < j + 6, isHex(b[k]) { k += 1 }
            if k == n { return fail(j, "truncated \\u escape at end of line") }
            return fail(j, "invalid \\u escape (expected 4 hex digits)")
        }
        if c > 0x20 && c < 0x7F { return fail(j, "invalid escape '\\\(Character(Unicode.Scalar(c)))'") }
        return fail(j, "invalid escape (backslash followed by byte 0x\(hex2(c)))")
    }

    @inline(never)
    func controlError(at j: Int) -> DockerLineError {
        fail(j, "raw control character 0x\(hex2(b[j])) inside a string")
    }

    // MARK: Tokens

    @inline(__always)
    mutating func skipWhitespace() {
        while i < n {
            let c = b[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            i += 1
        }
    }

    @inline(__always)
    func isHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66)
    }

    @inline(__always)
    func isDigit(_ c: UInt8) -> Bool { c >= Ch.zero && c <= Ch.nine }

    /// Index of the first byte at or after `start` that ends a run of plain string bytes:
    /// a quote, a backslash or a control character (< 0x20); `n` if there is none.
    /// Looks at 16 bytes at a time (SIMD), then 8 (SWAR), then byte by byte.
    @inline(__always)
    func findSpecial(from start: Int) -> Int {
        var j = start
        if let base = b.baseAddress {
            let quotes = SIMD16<UInt8>(repeating: Ch.quote)
            let backslashes = SIMD16<UInt8>(repeating: Ch.backslash)
            let spaces = SIMD16<UInt8>(repeating: 0x20)
            while j &+ 16 <= n {
                let v = UnsafeRawPointer(base + j).loadUnaligned(as: SIMD16<UInt8>.self)
                let hit = (v .== quotes) .| (v .== backslashes) .| (v .< spaces)
                if any(hit) {
                    // First hit: lowest marked byte of the mask read as two little-endian words.
                    let marks = SIMD16<UInt8>(repeating: 0).replacing(with: 0xFF, where: hit)
                    let words = unsafeBitCast(marks, to: SIMD2<UInt64>.self)
                    let low = UInt64(littleEndian: words[0])
                    if low != 0 { return j &+ low.trailingZeroBitCount &>> 3 }
                    return j &+ 8 &+ UInt64(littleEndian: words[1]).trailingZeroBitCount &>> 3
                }
                j &+= 16
            }
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            if j &+ 8 <= n {
                let v = UInt64(littleEndian: UnsafeRawPointer(base + j).loadUnaligned(as: UInt64.self))
                let q = v ^ (ones &* 0x22)
                let s = v ^ (ones &* 0x5C)
                // "Some byte is zero" / "some byte is below 0x20": the lowest marked byte is exact
                // (borrows can only mark bytes above a real hit).
                let hits = (((q &- ones) & ~q) | ((s &- ones) & ~s) | ((v &- ones &* 0x20) & ~v)) & highs
                if hits != 0 { return j &+ hits.trailingZeroBitCount &>> 3 }
                j &+= 8
            }
        }
        while j < n {
            let c = b[j]
            if c == Ch.quote || c == Ch.backslash || c < 0x20 { return j }
            j &+= 1
        }
        return n
    }

    /// Length of the valid escape at `j` (a backslash): 2, 6 for `\uXXXX`, or 0 if invalid or cut.
    @inline(__always)
    func escapeLength(at j: Int) -> Int {
        guard j + 1 < n else { return 0 }
        switch b[j + 1] {
        case 0x22, 0x5C, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return 2
        case UInt8(ascii: "u"):
            guard j + 6 <= n, isHex(b[j + 2]), isHex(b[j + 3]), isHex(b[j + 4]), isHex(b[j + 5]) else { return 0 }
            return 6
        default:
            return 0
        }
    }

    /// Decodes the string at `i` (an opening quote) and appends its unescaped bytes to `out`.
    ///
    /// The unescaped bytes are written straight into `out`'s storage: a JSON string never grows when
    /// unescaped (`\n` → 1 byte, `\uXXXX` → at most 3, a surrogate pair's 12 → 4), so the rest of the line
    /// (`n - i` bytes) bounds the room needed.
    mutating func decodeString(into out: inout [UInt8]) throws(DockerLineError) {
        let room = n - i
        #if compiler(>=6.2)
        if #available(macOS 26, iOS 26, tvOS 26, watchOS 26, visionOS 26, *) {
            try out.append(addingCapacity: room) { (span: inout OutputSpan<UInt8>) throws(DockerLineError) in
                try span.withUnsafeMutableBufferPointer { (buffer, count) throws(DockerLineError) in
                    count += try self.decodeString(to: buffer.baseAddress! + count)
                }
            }
            return
        }
        #endif
        // Older Apple platforms: make room, decode in place, drop the unused tail.
        let old = out.count
        out.append(contentsOf: repeatElement(0, count: room))
        var written = 0
        do {
            try out.withUnsafeMutableBufferPointer { (buffer) throws(DockerLineError) in
                written = try self.decodeString(to: buffer.baseAddress! + old)
            }
        } catch {
            out.removeLast(room)
            throw error
        }
        out.removeLast(room - written)
    }

    /// Decodes the string at `i` (an opening quote) into `dest`, which has room for `n - i` bytes,
    /// and returns the number of bytes written. Escapes are decoded by `JSONEscapes.unescape`.
    @inline(__always)
    mutating func decodeString(to dest: UnsafeMutablePointer<UInt8>) throws(DockerLineError) -> Int {
        let base = b.baseAddress!
        let open = i
        var p = i + 1
        var runStart = p
        var w = 0
        while true {
            let j = findSpecial(from: p)
            if j >= n { throw fail(open, "unterminated string") }
            if runStart < j {
                (dest + w).initialize(from: base + runStart, count: j - runStart)
                w += j - runStart
            }
            let c = base[j]
            if c == Ch.quote {
                i = j + 1
                return w
            }
            guard c == Ch.backslash else { throw controlError(at: j) }
            let (used, written) = JSONEscapes.unescape(base, count: n, at: j, to: dest + w)
            if used == 0 { throw escapeError(at: j) }
            w += written
            p = j + used
            runStart = p
        }
    }

    /// Validates the string at `i` (an opening quote) without decoding it.
    /// Returns the range of its raw contents and whether it holds escapes.
    mutating func scanString() throws(DockerLineError) -> (start: Int, end: Int, escaped: Bool) {
        let open = i
        let start = i + 1
        var p = start
        var escaped = false
        while true {
            let j = findSpecial(from: p)
            if j >= n { throw fail(open, "unterminated string") }
            let c = b[j]
            if c == Ch.quote {
                i = j + 1
                return (start, j, escaped)
            }
            guard c == Ch.backslash else { throw controlError(at: j) }
            let used = escapeLength(at: j)
            if used == 0 { throw escapeError(at: j) }
            escaped = true
            p = j + used
        }
    }

    /// Compares the raw bytes `b[start..<end]` with an ASCII literal.
    @inline(__always)
    func equals(_ start: Int, _ end: Int, _ literal: StaticString) -> Bool {
        guard end - start == literal.utf8CodeUnitCount else { return false }
        let lit = literal.utf8Start
        for k in 0..<(end - start) where b[start + k] != lit[k] { return false }
        return true
    }

    /// Reads a member name at `i` (an opening quote).
    mutating func readKey() throws(DockerLineError) -> Key {
        let open = i
        let s = try scanString()
        if !s.escaped { return Self.key(b, s.start, s.end) }
        // Rare: a member name written with escapes. Decode it to compare.
        var name: [UInt8] = []
        var sub = Cursor(b)
        sub.i = open
        try sub.decodeString(into: &name)
        return name.withUnsafeBufferPointer { Self.key($0, 0, $0.count) }
    }

    static func key(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Key {
        @inline(__always) func at(_ k: Int, _ c: Unicode.Scalar) -> Bool { buf[start + k] == UInt8(ascii: c) }
        switch end - start {
        case 3: return at(0, "l") && at(1, "o") && at(2, "g") ? .log : .other
        case 4: return at(0, "t") && at(1, "i") && at(2, "m") && at(3, "e") ? .time : .other
        case 5: return at(0, "a") && at(1, "t") && at(2, "t") && at(3, "r") && at(4, "s") ? .attrs : .other
        case 6:
            return at(0, "s") && at(1, "t") && at(2, "r") && at(3, "e") && at(4, "a") && at(5, "m") ? .stream : .other
        default: return .other
        }
    }

    /// Reads the "stream" string at `i` (an opening quote).
    mutating func readStream() throws(DockerLineError) -> DockerStream {
        let open = i
        let s = try scanString()
        if !s.escaped { return Self.stream(b, s.start, s.end) }
        var value: [UInt8] = []
        var sub = Cursor(b)
        sub.i = open
        try sub.decodeString(into: &value)
        return value.withUnsafeBufferPointer { Self.stream($0, 0, $0.count) }
    }

    static func stream(_ buf: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> DockerStream {
        @inline(__always) func at(_ k: Int, _ c: Unicode.Scalar) -> Bool { buf[start + k] == UInt8(ascii: c) }
        guard end - start == 6, at(0, "s"), at(1, "t"), at(2, "d") else { return .other }
        if at(3, "o") && at(4, "u") && at(5, "t") { return .stdout }
        if at(3, "e") && at(4, "r") && at(5, "r") { return .stderr }
        return .other
    }

    // MARK: Skipper

    /// Skips (and validates) any JSON value at `i`. `depth` is the nesting level of that value.
    mutating func skipValue(depth: Int) throws(DockerLineError) {
        guard i < n else { throw unexpected("a value") }
        switch b[i] {
        case 0x22:
            _ = try scanString()
        case 0x7B:
            guard depth <= DockerLineDecoder.maxDepth else {
                throw fail(i, "nesting deeper than \(DockerLineDecoder.maxDepth) levels")
            }
            i += 1
            skipWhitespace()
            if i < n, b[i] == Ch.closeBrace {
                i += 1
                return
            }
            while true {
                skipWhitespace()
                guard i < n, b[i] == Ch.quote else { throw unexpected("a member name") }
                _ = try scanString()
                skipWhitespace()
                guard i < n, b[i] == Ch.colon else { throw unexpected("':' after a member name") }
                i += 1
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard i < n else { throw unexpected("',' or '}'") }
                if b[i] == Ch.comma {
                    i += 1
                    continue
                }
                if b[i] == Ch.closeBrace {
                    i += 1
                    return
                }
                throw unexpected("',' or '}'")
            }
        case 0x5B:
            guard depth <= DockerLineDecoder.maxDepth else {
                throw fail(i, "nesting deeper than \(DockerLineDecoder.maxDepth) levels")
            }
            i += 1
            skipWhitespace()
            if i < n, b[i] == Ch.closeBracket {
                i += 1
                return
            }
            while true {
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard i < n else { throw unexpected("',' or ']'") }
                if b[i] == Ch.comma {
                    i += 1
                    continue
                }
                if b[i] == Ch.closeBracket {
                    i += 1
                    return
                }
                throw unexpected("',' or ']'")
            }
        case UInt8(ascii: "t"):
            try skipLiteral("true")
        case UInt8(ascii: "f"):
            try skipLiteral("false")
        case UInt8(ascii: "n"):
            try skipLiteral("null")
        case 0x2D, 0x30...0x39:
            try skipNumber()
        default:
            throw unexpected("a value")
        }
    }

    mutating func skipLiteral(_ literal: StaticString) throws(DockerLineError) {
        let count = literal.utf8CodeUnitCount
        guard i + count <= n, equals(i, i + count, literal) else {
            throw fail(i, "invalid literal, expected \(literal)")
        }
        i += count
    }

    mutating func skipNumber() throws(DockerLineError) {
        let start = i
        if b[i] == Ch.minus { i += 1 }
        guard i < n, isDigit(b[i]) else { throw fail(start, "invalid number") }
        if b[i] == Ch.zero {
            i += 1
        } else {
            while i < n, isDigit(b[i]) { i += 1 }
        }
        if i < n, b[i] == Ch.dot {
            i += 1
            guard i < n, isDigit(b[i]) else { throw fail(start, "invalid number: no digit after '.'") }
            while i < n, isDigit(b[i]) { i += 1 }
        }
        if i < n, b[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < n, b[i] == Ch.plus || b[i] == Ch.minus { i += 1 }
            guard i < n, isDigit(b[i]) else { throw fail(start, "invalid number: no digit in exponent") }
            while i < n, isDigit(b[i]) { i += 1 }
        }
    }

    // MARK: Strict line

    mutating func parseLine(into line: inout DockerLine) throws(DockerLineError) {
        skipWhitespace()
        guard i < n else { throw fail(i, n == 0 ? "empty line" : "blank line") }
        guard b[i] == Ch.openBrace else { throw unexpected("'{'") }
        i += 1
        skipWhitespace()
        var sawLog = false
        if i < n, b[i] == Ch.closeBrace {
            i += 1
        } else {
            while true {
                guard i < n, b[i] == Ch.quote else { throw unexpected("a member name") }
                let key = try readKey()
                skipWhitespace()
                guard i < n, b[i] == Ch.colon else { throw unexpected("':' after a member name") }
                i += 1
                skipWhitespace()
                guard i < n else { throw unexpected("a value") }
                switch key {
                case .log:
                    guard b[i] == Ch.quote else { throw fail(i, "\"log\" is not a string") }
                    line.log.clearKeepingCapacity()
                    try decodeString(into: &line.log)
                    sawLog = true
                case .stream:
                    if b[i] == Ch.quote {
                        line.stream = try readStream()
                    } else {
                        try skipValue(depth: 1)
                        line.stream = .other
                    }
                case .time:
                    line.time.clearKeepingCapacity()
                    if b[i] == Ch.quote {
                        try decodeString(into: &line.time)
                    } else {
                        try skipValue(depth: 1)
                    }
                case .attrs:
                    let start = i
                    try skipValue(depth: 1)
                    line.attrs.clearKeepingCapacity()
                    if b[start] == Ch.openBrace {
                        line.attrs.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                    }
                case .other:
                    try skipValue(depth: 1)
                }
                skipWhitespace()
                guard i < n else { throw unexpected("',' or '}'") }
                if b[i] == Ch.comma {
                    i += 1
                    skipWhitespace()
                    continue
                }
                if b[i] == Ch.closeBrace {
                    i += 1
                    break
                }
                throw unexpected("',' or '}'")
            }
        }
        skipWhitespace()
        guard i == n else { throw fail(i, "trailing data after the object: \(describe(b[i]))") }
        guard sawLog else { throw fail(0, "no log field") }
    }

    // MARK: Lenient head

    mutating func parseHead(into line: inout DockerLine) -> Bool {
        var sawLog = false
        skipWhitespace()
        guard i < n, b[i] == Ch.openBrace else { return false }
        i += 1
        while true {
            skipWhitespace()
            guard i < n, b[i] == Ch.quote, let key = try? readKey() else { break }
            skipWhitespace()
            guard i < n, b[i] == Ch.colon else { break }
            i += 1
            skipWhitespace()
            guard i < n else { break }
            switch key {
            case .log:
                guard b[i] == Ch.quote else { return sawLog }
                line.log.clearKeepingCapacity()
                sawLog = true
                if !decodeStringHead(into: &line.log) { return true }
            case .stream:
                guard b[i] == Ch.quote, let stream = try? readStream() else { return sawLog }
                line.stream = stream
            case .time:
                guard b[i] == Ch.quote else { return sawLog }
                line.time.clearKeepingCapacity()
                do {
                    try decodeString(into: &line.time)
                } catch {
                    line.time.clearKeepingCapacity()
                    return sawLog
                }
            case .attrs:
                let start = i
                guard (try? skipValue(depth: 1)) != nil else { return sawLog }
                line.attrs.clearKeepingCapacity()
                if b[start] == Ch.openBrace {
                    line.attrs.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<i]))
                }
            case .other:
                guard (try? skipValue(depth: 1)) != nil else { return sawLog }
            }
            skipWhitespace()
            guard i < n, b[i] == Ch.comma else { break }
            i += 1
        }
        return sawLog
    }

    /// Decodes the possibly cut string at `i` (an opening quote) into `out`. Returns true if it was
    /// terminated; false if it was cut (by the end of the bytes or by an invalid escape), in which case
    /// `out` ends at an escape boundary and does not end with an incomplete UTF-8 sequence.
    mutating func decodeStringHead(into out: inout [UInt8]) -> Bool {
        var p = i + 1
        var runStart = p
        while true {
            let j = findSpecial(from: p)
            if j >= n {
                let end = completeUTF8End(from: runStart, to: n)
                if runStart < end { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<end])) }
                i = n
                return false
            }
            let c = b[j]
            if c == Ch.quote {
                if runStart < j { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<j])) }
                i = j + 1
                return true
            }
            if c != Ch.backslash {
                // Lenient: keep a raw control character as given.
                p = j + 1
                continue
            }
            if runStart < j { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<j])) }
            if highSurrogateMayBeCut(at: j) {
                i = n
                return false
            }
            let used = JSONEscapes.unescape(b, at: j, into: &out)
            if used == 0 {
                // Cut inside the escape, or an invalid one: stop before it.
                i = n
                return false
            }
            p = j + used
            runStart = p
        }
    }

    /// True if `b[j...]` is `\uD8xx`-`\uDBxx` (a high surrogate) whose low half may have been cut off:
    /// what follows it up to the end of the bytes is a (possibly empty) prefix of `\uXXXX`.
    func highSurrogateMayBeCut(at j: Int) -> Bool {
        guard j + 6 <= n, j + 12 > n, b[j + 1] == UInt8(ascii: "u"), b[j + 2] | 0x20 == UInt8(ascii: "d") else {
            return false
        }
        let third = b[j + 3] | 0x20
        guard third == UInt8(ascii: "8") || third == UInt8(ascii: "9") || third == UInt8(ascii: "a")
            || third == UInt8(ascii: "b"), isHex(b[j + 4]), isHex(b[j + 5])
        else { return false }
        var k = j + 6
        while k < n {
            let c = b[k]
            switch k - (j + 6) {
            case 0: guard c == 0x5C else { return false }
            case 1: guard c == UInt8(ascii: "u") else { return false }
            default: guard isHex(c) else { return false }
            }
            k += 1
        }
        return true
    }

    /// `end`, or the start of the UTF-8 sequence that the end of `b[start..<end]` cuts in two.
    func completeUTF8End(from start: Int, to end: Int) -> Int {
        var k = end
        while k > start, end - k < 4 {
            k -= 1
            let c = b[k]
            if c & 0xC0 == 0x80 { continue }  // continuation byte: keep looking for the lead
            if c >= 0xC0 && c <= 0xF7 {
                let need = c >= 0xF0 ? 4 : (c >= 0xE0 ? 3 : 2)
                if end - k < need { return k }
            }
            return end
        }
        return end
    }
}
