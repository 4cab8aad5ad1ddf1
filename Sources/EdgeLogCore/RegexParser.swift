/// Why a pattern was refused: what is wrong and where (a 0-based offset in Unicode scalars).
public struct RegexError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let offset: Int

    public var description: String { "\(message) (at \(offset))" }
}

/// Reads Python `re` syntax (with `re.ASCII`), the subset a linear-time matcher can run: literals, `.`, classes
/// `[...]` with ranges and negation, `\d \w \s \D \W \S`, `\b \B`, anchors `^ $ \A \Z`, groups `( )`, `(?: )` and
/// `(?P<name> )`, alternation, `* + ?` and `{m,n}` (greedy or lazy), and the flags `i`, `m`, `s` (at the start, or
/// scoped as `(?i: )`). Everything that needs backtracking (backreferences, lookaround, atomic groups, possessive
/// quantifiers, conditionals) is refused with its name.
struct RegexParser {
    /// Limits that keep a hostile pattern cheap to compile and to run.
    static let maxPatternScalars = 1024
    static let maxDepth = 64
    static let maxRepeat = 1000

    struct Flags {
        var caseInsensitive = false
        var multiline = false
        var dotAll = false
    }

    private let s: [Unicode.Scalar]
    private var i = 0
    private var flags = Flags()
    private(set) var groupCount = 0

    init(_ pattern: String) {
        s = Array(pattern.unicodeScalars)
    }

    static func parse(_ pattern: String) throws(RegexError) -> (RegexNode, groups: Int) {
        var parser = RegexParser(pattern)
        guard parser.s.count <= maxPatternScalars else {
            throw RegexError(message: "the pattern is longer than \(maxPatternScalars) characters", offset: maxPatternScalars)
        }
        try parser.parseGlobalFlags()
        let node = try parser.parseAlternation(depth: 0)
        if parser.i < parser.s.count {
            // Only an unbalanced `)` stops the top-level alternation early.
            throw RegexError(message: "unbalanced parenthesis", offset: parser.i)
        }
        return (node, parser.groupCount)
    }

    // MARK: structure

    /// `(?ims)` groups at the very start set the flags for the whole pattern (Python 3.11 refuses them elsewhere).
    private mutating func parseGlobalFlags() throws(RegexError) {
        while peek("("), peek("?", at: i + 1), i + 2 < s.count, Self.flagLetter(s[i + 2]) {
            var j = i + 2
            var local = flags
            while j < s.count, Self.flagLetter(s[j]) {
                try Self.apply(s[j], to: &local, on: true, offset: j)
                j += 1
            }
            guard j < s.count, s[j] == ")" else { return }  // `(?i:...)`: a scoped group, read as an atom
            flags = local
            i = j + 1
        }
    }

    private mutating func parseAlternation(depth: Int) throws(RegexError) -> RegexNode {
        guard depth <= Self.maxDepth else {
            throw RegexError(message: "groups are nested more than \(Self.maxDepth) deep", offset: i)
        }
        var branches = [try parseConcat(depth: depth)]
        while peek("|") {
            i += 1
            branches.append(try parseConcat(depth: depth))
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    private mutating func parseConcat(depth: Int) throws(RegexError) -> RegexNode {
        var items: [RegexNode] = []
        while i < s.count, s[i] != "|", s[i] != ")" {
            let start = i
            guard var atom = try parseAtom(depth: depth) else { continue }
            if let q = try parseQuantifier() {
                if case .assertion = atom { throw RegexError(message: "nothing to repeat", offset: start) }
                atom = .repetition(atom, min: q.min, max: q.max, greedy: q.greedy)
                if i < s.count, s[i] == "*" || s[i] == "+" || s[i] == "?" || quantifierAhead() != nil {
                    throw RegexError(message: "multiple repeat", offset: i)
                }
            }
            items.append(atom)
        }
        return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concat(items))
    }

    /// One atom, or nil for something that matches nothing and is not repeatable (a comment).
    private mutating func parseAtom(depth: Int) throws(RegexError) -> RegexNode? {
        let c = s[i]
        switch c {
        case "(":
            return try parseGroup(depth: depth)
        case "[":
            return .set(try parseClass())
        case ".":
            i += 1
            return .any(dotAll: flags.dotAll)
        case "^":
            i += 1
            return .assertion(flags.multiline ? .lineStart : .textStart)
        case "$":
            i += 1
            return .assertion(flags.multiline ? .lineEnd : .textEndOrFinalNewline)
        case "\\":
            return try parseEscape()
        case "*", "+", "?":
            throw RegexError(message: "nothing to repeat", offset: i)
        case "{":
            if quantifierAhead() != nil { throw RegexError(message: "nothing to repeat", offset: i) }
            i += 1
            return literal(c.value)
        default:
            i += 1
            return literal(c.value)
        }
    }

    private mutating func parseGroup(depth: Int) throws(RegexError) -> RegexNode? {
        let open = i
        i += 1
        guard peek("?") else {
            groupCount += 1
            let index = groupCount
            let body = try parseAlternation(depth: depth + 1)
            try expectClose(open)
            return .group(body, index: index)
        }
        i += 1
        guard i < s.count else { throw RegexError(message: "unterminated group", offset: open) }
        switch s[i] {
        case ":":
            i += 1
            let body = try parseAlternation(depth: depth + 1)
            try expectClose(open)
            return .group(body, index: nil)
        case "P":
            if peek("<", at: i + 1) {
                i += 2
                let nameStart = i
                while i < s.count, s[i] != ">" {
                    guard s[i] == "_" || s[i].properties.isAlphabetic || (i > nameStart && s[i].properties.numericType != nil)
                    else { throw RegexError(message: "bad character in group name", offset: i) }
                    i += 1
                }
                guard i < s.count, i > nameStart else { throw RegexError(message: "missing group name", offset: nameStart) }
                i += 1
                groupCount += 1
                let index = groupCount
                let body = try parseAlternation(depth: depth + 1)
                try expectClose(open)
                return .group(body, index: index)
            }
            if peek("=", at: i + 1) {
                throw RegexError(message: "backreferences ((?P=name)) are not supported: they need backtracking", offset: open)
            }
            throw RegexError(message: "unknown extension (?P", offset: open)
        case "#":
            while i < s.count, s[i] != ")" { i += 1 }
            guard i < s.count else { throw RegexError(message: "missing ), unterminated comment", offset: open) }
            i += 1
            return nil
        case "=", "!":
            throw RegexError(message: "lookahead ((?= or (?!) is not supported: it needs backtracking", offset: open)
        case "<":
            if peek("=", at: i + 1) || peek("!", at: i + 1) {
                throw RegexError(message: "lookbehind ((?<= or (?<!) is not supported: it needs backtracking", offset: open)
            }
            throw RegexError(message: "named groups are written (?P<name>...)", offset: open)
        case ">":
            throw RegexError(message: "atomic groups ((?>...)) are not supported", offset: open)
        case "(":
            throw RegexError(message: "conditional groups ((?(...)) are not supported", offset: open)
        default:
            // Scoped flags: (?i:...), (?-i:...), (?s-i:...).
            var scoped = flags
            var on = true
            var sawLetter = false
            while i < s.count, s[i] != ":" {
                if s[i] == "-" && on {
                    on = false
                } else if Self.flagLetter(s[i]) {
                    try Self.apply(s[i], to: &scoped, on: on, offset: i)
                    sawLetter = true
                } else if s[i] == ")" {
                    throw RegexError(message: "global flags not at the start of the expression", offset: open)
                } else {
                    throw RegexError(message: "unknown extension (?\(s[i])", offset: open)
                }
                i += 1
            }
            guard i < s.count, sawLetter else { throw RegexError(message: "missing flag", offset: i) }
            i += 1
            let saved = flags
            flags = scoped
            let body = try parseAlternation(depth: depth + 1)
            flags = saved
            try expectClose(open)
            return .group(body, index: nil)
        }
    }

    private mutating func expectClose(_ open: Int) throws(RegexError) {
        guard peek(")") else { throw RegexError(message: "missing ), unterminated subpattern", offset: open) }
        i += 1
    }

    private static func flagLetter(_ c: Unicode.Scalar) -> Bool {
        c == "i" || c == "m" || c == "s" || c == "a" || c == "x" || c == "u" || c == "L"
    }

    private static func apply(_ c: Unicode.Scalar, to flags: inout Flags, on: Bool, offset: Int) throws(RegexError) {
        switch c {
        case "i": flags.caseInsensitive = on
        case "m": flags.multiline = on
        case "s": flags.dotAll = on
        case "a": break  // ASCII classes: always the case here
        default:
            throw RegexError(message: "the flag \(c) is not supported (only i, m, s)", offset: offset)
        }
    }

    // MARK: quantifiers

    private struct Quantifier {
        var min: Int
        var max: Int?
        var greedy: Bool
    }

    private mutating func parseQuantifier() throws(RegexError) -> Quantifier? {
        guard i < s.count else { return nil }
        let at = i
        var q: Quantifier
        switch s[i] {
        case "*": q = Quantifier(min: 0, max: nil, greedy: true); i += 1
        case "+": q = Quantifier(min: 1, max: nil, greedy: true); i += 1
        case "?": q = Quantifier(min: 0, max: 1, greedy: true); i += 1
        case "{":
            guard let (min, max, end) = quantifierAhead() else { return nil }
            if let max, max < min { throw RegexError(message: "min repeat greater than max repeat", offset: at) }
            if min > Self.maxRepeat || (max ?? 0) > Self.maxRepeat {
                throw RegexError(message: "a repeat count over \(Self.maxRepeat)", offset: at)
            }
            q = Quantifier(min: min, max: max, greedy: true)
            i = end
        default:
            return nil
        }
        if peek("?") {
            q.greedy = false
            i += 1
        } else if peek("+") {
            throw RegexError(message: "possessive quantifiers (*+, ++, ?+) are not supported", offset: i)
        }
        return q
    }

    /// `{m}`, `{m,}`, `{,n}` or `{m,n}` at `i`: the bounds and the index after `}`; nil if `{` is a literal there.
    private func quantifierAhead() -> (Int, Int?, Int)? {
        guard peek("{") else { return nil }
        var j = i + 1
        func number() -> Int? {
            var value: Int?
            while j < s.count, let d = Self.digit(s[j]) {
                value = min(Int(Int32.max), (value ?? 0) * 10 + d)
                j += 1
            }
            return value
        }
        let low = number()
        if j < s.count, s[j] == "}" {
            guard let low else { return nil }
            return (low, low, j + 1)
        }
        guard j < s.count, s[j] == "," else { return nil }
        j += 1
        let high = number()
        guard j < s.count, s[j] == "}" else { return nil }
        return (low ?? 0, high, j + 1)
    }

    private static func digit(_ c: Unicode.Scalar) -> Int? {
        c.value >= 0x30 && c.value <= 0x39 ? Int(c.value - 0x30) : nil
    }

    // MARK: atoms

    private func literal(_ c: UInt32) -> RegexNode {
        if flags.caseInsensitive, Self.isASCIILetter(c) {
            var set = RegexScalarSet()
            set.insert(c)
            set.foldASCIICase()
            return .set(set)
        }
        return .scalar(c)
    }

    static func isASCIILetter(_ c: UInt32) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }

    private mutating func parseEscape() throws(RegexError) -> RegexNode {
        let at = i
        i += 1
        guard i < s.count else { throw RegexError(message: "bad escape (end of pattern)", offset: at) }
        let c = s[i]
        i += 1
        switch c {
        case "A": return .assertion(.textStart)
        case "Z": return .assertion(.textEnd)
        case "b": return .assertion(.wordBoundary)
        case "B": return .assertion(.notWordBoundary)
        default:
            switch try classEscape(c, at: at, inClass: false) {
            case .scalar(let v): return literal(v)
            case .set(let set): return .set(set)
            }
        }
    }

    private enum ClassItem {
        case scalar(UInt32)
        case set(RegexScalarSet)
    }

    /// The escape after the backslash at `at` (already consumed: `c`), inside a class or not.
    private mutating func classEscape(_ c: Unicode.Scalar, at: Int, inClass: Bool) throws(RegexError) -> ClassItem {
        switch c {
        case "d": return .set(.digits)
        case "w": return .set(.word)
        case "s": return .set(.space)
        case "D": return .set(Self.negated(.digits))
        case "W": return .set(Self.negated(.word))
        case "S": return .set(Self.negated(.space))
        case "t": return .scalar(0x09)
        case "n": return .scalar(0x0A)
        case "r": return .scalar(0x0D)
        case "f": return .scalar(0x0C)
        case "v": return .scalar(0x0B)
        case "a": return .scalar(0x07)
        case "b" where inClass: return .scalar(0x08)
        case "x": return .scalar(try hex(digits: 2, at: at))
        case "u": return .scalar(try hex(digits: 4, at: at))
        case "U": return .scalar(try hex(digits: 8, at: at))
        case "0":
            var value: UInt32 = 0
            var n = 0
            while n < 2, i < s.count, s[i].value >= 0x30, s[i].value <= 0x37 {
                value = value * 8 + (s[i].value - 0x30)
                i += 1
                n += 1
            }
            return .scalar(value)
        default:
            if Self.digit(c) != nil {
                throw RegexError(
                    message: inClass
                        ? "octal escapes are written \\0nn or \\xhh here"
                        : "backreferences (\\\(c)) are not supported: they need backtracking", offset: at)
            }
            if c.isASCII, Self.isASCIILetter(c.value) {
                throw RegexError(message: "bad escape \\\(c)", offset: at)
            }
            return .scalar(c.value)
        }
    }

    private mutating func hex(digits: Int, at: Int) throws(RegexError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard i < s.count, let d = Self.hexDigit(s[i]) ?? Self.hexLetter(s[i]) else { throw RegexError(message: "incomplete escape (\(digits) hex digits expected)", offset: at) }
            value = value &* 16 &+ d
            i += 1
        }
        guard value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else {
            throw RegexError(message: "bad escape: not a Unicode scalar", offset: at)
        }
        return value
    }

    private static func hexDigit(_ c: Unicode.Scalar) -> UInt32? {
        c.value >= 0x30 && c.value <= 0x39 ? c.value - 0x30 : nil
    }

    private static func hexLetter(_ c: Unicode.Scalar) -> UInt32? {
        switch c.value | 0x20 {
        case 0x61...0x66: return (c.value | 0x20) - 0x61 + 10
        default: return nil
        }
    }

    private static func negated(_ set: RegexScalarSet) -> RegexScalarSet {
        var copy = set
        copy.negated = true
        return copy
    }

    private mutating func parseClass() throws(RegexError) -> RegexScalarSet {
        let open = i
        i += 1
        var set = RegexScalarSet()
        if peek("^") {
            set.negated = true
            i += 1
        }
        if peek("[") && peek(":", at: i + 1) {
            throw RegexError(message: "POSIX classes ([:alpha:]) are not supported; use ranges such as [A-Za-z]", offset: i)
        }
        var first = true
        while true {
            guard i < s.count else { throw RegexError(message: "unterminated character set", offset: open) }
            if s[i] == "]" && !first {
                i += 1
                break
            }
            first = false
            let itemStart = i
            let item = try classItem()
            if case .scalar(let low) = item, peek("-"), i + 1 < s.count, s[i + 1] != "]" {
                i += 1
                let high = try classItem()
                guard case .scalar(let highValue) = high else {
                    throw RegexError(message: "bad character range", offset: itemStart)
                }
                guard low <= highValue else { throw RegexError(message: "bad character range", offset: itemStart) }
                set.insert(low...highValue)
                continue
            }
            switch item {
            case .scalar(let v): set.insert(v)
            case .set(let other):
                if peek("-"), i + 1 < s.count, s[i + 1] != "]" {
                    throw RegexError(message: "bad character range", offset: itemStart)
                }
                set.formUnion(other)
            }
        }
        if flags.caseInsensitive { set.foldASCIICase() }
        set.normalize()
        return set
    }

    private mutating func classItem() throws(RegexError) -> ClassItem {
        let c = s[i]
        if c == "\\" {
            let at = i
            i += 1
            guard i < s.count else { throw RegexError(message: "unterminated character set", offset: at) }
            let e = s[i]
            i += 1
            return try classEscape(e, at: at, inClass: true)
        }
        i += 1
        return .scalar(c.value)
    }

    // MARK: helpers

    private func peek(_ c: Unicode.Scalar, at index: Int? = nil) -> Bool {
        let j = index ?? i
        return j < s.count && s[j] == c
    }
}
