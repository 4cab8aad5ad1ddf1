#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A run of bytes every match starts with, found with `memchr` on its rarest byte and verified around it: the
/// fast path that lets most messages be rejected without running the matcher at all.
struct RegexLiteral: Sendable {
    /// The bytes; an ASCII letter matched in either case is stored lower-case with `folded` set.
    private(set) var bytes: [UInt8]
    private(set) var folded: [Bool]
    /// Index in `bytes` of the byte `memchr` looks for.
    private(set) var anchor = 0

    init(bytes: [UInt8], folded: [Bool]) {
        self.bytes = bytes
        self.folded = folded
        chooseAnchor()
    }

    mutating func append(_ byte: UInt8, folded isFolded: Bool) {
        bytes.append(byte)
        folded.append(isFolded)
        chooseAnchor()
    }

    var isEmpty: Bool { bytes.isEmpty }
    var count: Int { bytes.count }

    /// The anchor is the byte least likely in log text, by a rough rank: lower-case letters by their frequency in
    /// English, digits, upper-case letters, punctuation rarer, white space the commonest; a letter matched in
    /// either case costs two scans, so it ranks a little worse.
    private mutating func chooseAnchor() {
        var best = 0
        var bestRank = Int.max
        for (k, b) in bytes.enumerated() {
            var rank = Self.rank(b)
            if folded[k] { rank += 15 }
            if rank < bestRank {
                best = k
                bestRank = rank
            }
        }
        anchor = best
    }

    private static func rank(_ b: UInt8) -> Int {
        switch b {
        case 0x20, 0x09: return 100
        case UInt8(ascii: "e"), UInt8(ascii: "t"), UInt8(ascii: "a"), UInt8(ascii: "o"), UInt8(ascii: "i"),
            UInt8(ascii: "n"), UInt8(ascii: "s"), UInt8(ascii: "r"):
            return 90
        case UInt8(ascii: "h"), UInt8(ascii: "l"), UInt8(ascii: "d"), UInt8(ascii: "c"), UInt8(ascii: "u"):
            return 80
        case UInt8(ascii: "m"), UInt8(ascii: "f"), UInt8(ascii: "p"), UInt8(ascii: "g"), UInt8(ascii: "w"),
            UInt8(ascii: "y"):
            return 65
        case UInt8(ascii: "b"), UInt8(ascii: "v"), UInt8(ascii: "k"): return 50
        case 0x61...0x7A: return 35  // j, q, x, z
        case 0x30...0x39: return 60
        case UInt8(ascii: "."), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "\""): return 55  // times, JSON
        case UInt8(ascii: "/"), UInt8(ascii: "-"): return 50
        case UInt8(ascii: "_"), UInt8(ascii: "="): return 45
        case 0x41...0x5A: return 40
        case 0x80...: return 30
        default: return 25
        }
    }

    /// Whether the literal occurs at `position`.
    @inline(__always)
    func occurs(in text: UnsafeBufferPointer<UInt8>, at position: Int) -> Bool {
        guard position >= 0, position + bytes.count <= text.count else { return false }
        for k in 0..<bytes.count {
            let t = text[position + k]
            if folded[k] ? (t | 0x20) != bytes[k] : t != bytes[k] { return false }
        }
        return true
    }

    /// The first position at or after `from` where the literal starts, or nil.
    func find(in text: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        let n = bytes.count
        guard n > 0, let base = text.baseAddress else { return n == 0 ? from : nil }
        var start = from
        let byte = bytes[anchor]
        let other = folded[anchor] ? byte ^ 0x20 : byte
        while start + n <= text.count {
            // Search for the anchor byte where a match starting at `start` or later would have it.
            let scanFrom = start + anchor
            let length = text.count - (n - anchor - 1) - scanFrom
            guard length > 0 else { return nil }
            let p = base + scanFrom
            var hit = Self.scan(p, byte, length)
            if other != byte, let alt = Self.scan(p, other, hit.map { $0 + 1 } ?? length) {
                hit = Swift.min(alt, hit ?? Int.max)
            }
            guard let hit else { return nil }
            let at = scanFrom + hit
            let candidate = at - anchor
            if occurs(in: text, at: candidate) { return candidate }
            start = candidate + 1
        }
        return nil
    }

    /// Offset from `pointer` of the first `byte` within `length` bytes.
    @inline(__always)
    private static func scan(_ pointer: UnsafePointer<UInt8>, _ byte: UInt8, _ length: Int) -> Int? {
        guard length > 0, let found = memchr(pointer, Int32(byte), length) else { return nil }
        return pointer.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }
}
