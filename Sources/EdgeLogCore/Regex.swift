/// A regular expression matched in time linear in the text (a Pike VM over UTF-8, one Unicode scalar per step,
/// every thread advanced in lockstep): no pattern can make it backtrack, so patterns from a module twin are safe.
/// The syntax is Python's `re` with `re.ASCII` (see `RegexParser` for the subset); leftmost-first matching with
/// greedy and lazy quantifiers gives the same matches as Python's, except that a repeated group that matched the
/// empty string is not tried again (RE2's rule).
///
/// Matching needs a `RegexScratch`: one per thread of work, reused for every pattern and every message.
public struct Regex: Sendable {
    /// The pattern and its program, behind one reference: a `Regex` costs one retain to copy.
    private final class Compiled: Sendable {
        let pattern: String
        let program: RegexProgram

        init(pattern: String, program: RegexProgram) {
            self.pattern = pattern
            self.program = program
        }
    }

    private let compiled: Compiled

    public var pattern: String { compiled.pattern }
    var program: RegexProgram { compiled.program }

    /// Compiles `pattern`, or throws what is unsupported or malformed and where.
    public init(_ pattern: String) throws(RegexError) {
        let (node, groups) = try RegexParser.parse(pattern)
        compiled = Compiled(pattern: pattern, program: try RegexProgram.compile(node, groups: groups, pattern: pattern))
    }

    /// Capturing groups in the pattern (group 0, the whole match, not counted).
    public var groupCount: Int { program.groupCount }

    /// Instructions of the compiled program (at most 4096): a match takes at most twice this many steps per byte.
    public var instructionCount: Int { program.instructions.count }

    /// Whether the pattern can match without consuming anything (`a*`, `^`, `x?`).
    public var canMatchEmpty: Bool { program.canMatchEmpty }

    /// Whether the pattern matches somewhere in `text`.
    public func matches(_ text: UnsafeBufferPointer<UInt8>, scratch: RegexScratch) -> Bool {
        if program.isLiteral { return program.prefilter.starts[0].find(in: text, from: 0) != nil }
        return scratch.run(program, text, from: 0, slots: 0, earliest: true)
    }

    /// The leftmost match starting at or after `from`, with the ranges of groups 1…`groups` (nil for a group that
    /// took no part); Python's `re.search(pattern, text[from:])` shifted by `from`, for valid UTF-8.
    public func firstMatch(
        in text: UnsafeBufferPointer<UInt8>, from: Int = 0, groups: Int = 0, scratch: RegexScratch
    ) -> RegexMatch? {
        let groups = max(0, min(groups, program.groupCount))
        if program.isLiteral && groups == 0 {
            let literal = program.prefilter.starts[0]
            guard let at = literal.find(in: text, from: from) else { return nil }
            return RegexMatch(range: at..<(at + literal.count), groups: [])
        }
        guard scratch.run(program, text, from: from, slots: 2 * (groups + 1), earliest: false) else { return nil }
        let slots = scratch.matchSlots
        var ranges: [Range<Int>?] = []
        for g in stride(from: 1, through: groups, by: 1) {
            let (start, end) = (slots[2 * g], slots[2 * g + 1])
            ranges.append(start >= 0 && end >= start ? start..<end : nil)
        }
        return RegexMatch(range: slots[0]..<slots[1], groups: ranges)
    }

    /// Conveniences for text held as a `String`, allocating their own scratch.
    public func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { matches($0, scratch: RegexScratch()) }
    }

    public func firstMatch(in text: String, groups: Int = 0) -> RegexMatch? {
        var text = text
        return text.withUTF8 { firstMatch(in: $0, groups: groups, scratch: RegexScratch()) }
    }
}

/// Where a match is, in bytes of the text.
public struct RegexMatch: Sendable, Equatable {
    public var range: Range<Int>
    /// Groups 1…n as asked for; nil for a group that did not take part in the match.
    public var groups: [Range<Int>?]

    public init(range: Range<Int>, groups: [Range<Int>?]) {
        self.range = range
        self.groups = groups
    }
}
