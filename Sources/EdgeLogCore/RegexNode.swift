/// The parsed form of a regular expression, before it is compiled into a `RegexProgram`.
indirect enum RegexNode: Sendable {
    /// Matches the empty string.
    case empty
    /// One Unicode scalar, exactly.
    case scalar(UInt32)
    /// One scalar from a set (a class, `\d`, a case-folded letter).
    case set(RegexScalarSet)
    /// `.`: any scalar, the line feed too when `dotAll`.
    case any(dotAll: Bool)
    case concat([RegexNode])
    case alternate([RegexNode])
    /// `max` nil: no upper bound.
    case repetition(RegexNode, min: Int, max: Int?, greedy: Bool)
    /// A capturing group (`index` from 1) or a non-capturing one (`index` nil).
    case group(RegexNode, index: Int?)
    case assertion(RegexAssertion)

    /// Instructions the node compiles to (saturating, so a hostile `{m,n}` nesting cannot overflow).
    var programSize: Int {
        switch self {
        case .empty: return 0
        case .scalar, .set, .any, .assertion: return 1
        case .concat(let nodes): return nodes.reduce(0) { Self.add($0, $1.programSize) }
        case .alternate(let nodes): return nodes.reduce(0) { Self.add($0, Self.add($1.programSize, 2)) }
        case .group(let node, let index): return Self.add(node.programSize, index == nil ? 0 : 2)
        case .repetition(let node, let min, let max, _):
            let body = Self.add(node.programSize, 2)
            let copies = max.map { Swift.max($0, min) } ?? (min + 1)
            return Self.multiply(body, copies)
        }
    }

    /// Whether the node can match the empty string.
    var canBeEmpty: Bool {
        switch self {
        case .empty, .assertion: return true
        case .scalar, .set, .any: return false
        case .concat(let nodes): return nodes.allSatisfy(\.canBeEmpty)
        case .alternate(let nodes): return nodes.contains(where: \.canBeEmpty)
        case .group(let node, _): return node.canBeEmpty
        case .repetition(let node, let min, _, _): return min == 0 || node.canBeEmpty
        }
    }

    private static func add(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    private static func multiply(_ a: Int, _ b: Int) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? Int.max : product
    }
}

/// Zero-width tests.
enum RegexAssertion: Int32, Sendable {
    /// `^` (and `\A`): the start of the text.
    case textStart
    /// `$`: the end of the text, or before a line feed that ends it (Python's `$`).
    case textEndOrFinalNewline
    /// `\Z`: the very end of the text.
    case textEnd
    /// `^` with `(?m)`: the start, or after a line feed.
    case lineStart
    /// `$` with `(?m)`: the end, or before a line feed.
    case lineEnd
    /// `\b`: between a word character (`[A-Za-z0-9_]`) and a non-word one, or the text's edge.
    case wordBoundary
    /// `\B`: not a word boundary.
    case notWordBoundary
}

/// A set of Unicode scalars: ASCII as a bitmap, the rest as sorted ranges. Bytes that are not valid UTF-8 are
/// seen by the matcher as scalars above U+10FFFF, so only negated sets (`[^…]`, `\D`, `\W`, `\S`) and `.` match them.
struct RegexScalarSet: Sendable, Equatable {
    var low: UInt64 = 0  // scalars 0…63
    var high: UInt64 = 0  // scalars 64…127
    /// Ranges of scalars from 0x80, possibly overlapping until `normalize`.
    var ranges: [ClosedRange<UInt32>] = []
    var negated = false

    static let beyondUnicode: UInt32 = 0x7FFF_FFFF

    mutating func insert(_ c: UInt32) {
        if c < 64 { low |= 1 << UInt64(c) } else if c < 128 { high |= 1 << UInt64(c - 64) } else { ranges.append(c...c) }
    }

    mutating func insert(_ range: ClosedRange<UInt32>) {
        var c = range.lowerBound
        while c <= range.upperBound && c < 128 {
            insert(c)
            c += 1
        }
        if range.upperBound >= 128 { ranges.append(Swift.max(128, range.lowerBound)...range.upperBound) }
    }

    mutating func formUnion(_ other: RegexScalarSet) {
        if other.negated {
            // Only the class escapes (\D, \W, \S) are negated when unioned, and they are ASCII sets: their
            // complement is the other ASCII scalars plus everything from 0x80.
            low |= ~other.low
            high |= ~other.high
            ranges.append(128...Self.beyondUnicode)
        } else {
            low |= other.low
            high |= other.high
            ranges.append(contentsOf: other.ranges)
        }
    }

    /// Adds the other case of every ASCII letter (Python's `re.ASCII | re.IGNORECASE`).
    mutating func foldASCIICase() {
        let upper: UInt64 = 0x07FF_FFFE  // bits 1…26 of `high`: A…Z (65…90)
        let lower: UInt64 = 0x07FF_FFFE << 32  // bits 33…58 of `high`: a…z (97…122)
        high |= (high & upper) << 32 | (high & lower) >> 32
    }

    /// Sorts and merges `ranges`.
    mutating func normalize() {
        guard ranges.count > 1 else { return }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        for r in ranges {
            if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...Swift.max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        ranges = merged
    }

    @inline(__always)
    func contains(_ c: UInt32) -> Bool {
        let inSet: Bool
        if c < 64 {
            inSet = low & (1 << UInt64(c)) != 0
        } else if c < 128 {
            inSet = high & (1 << UInt64(c - 64)) != 0
        } else {
            var found = false
            for r in ranges where r.contains(c) {
                found = true
                break
            }
            inSet = found
        }
        return inSet != negated
    }

    static func ascii(_ predicate: (UInt8) -> Bool) -> RegexScalarSet {
        var set = RegexScalarSet()
        for c in UInt8(0)..<128 where predicate(c) { set.insert(UInt32(c)) }
        return set
    }

    static let digits = ascii { $0 >= 0x30 && $0 <= 0x39 }
    static let word = ascii { isWord($0) }
    /// Python's `\s` with `re.ASCII`: space, \t, \n, \v, \f, \r.
    static let space = ascii { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0D) }

    @inline(__always)
    static func isWord(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
    }
}
