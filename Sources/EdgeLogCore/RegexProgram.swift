/// A compiled regular expression: instructions for a Pike VM (`Regex`), stepping over one Unicode scalar at a time.
struct RegexProgram: Sendable {
    enum Op: UInt8, Sendable {
        /// Consumes the scalar `a`.
        case scalar
        /// Consumes a scalar in `sets[a]`.
        case set
        /// Consumes any scalar; not a line feed unless `a` is 1.
        case any
        /// Continues at `a` first, then at `b`.
        case split
        case jump
        /// Records the position in capture slot `a`.
        case save
        /// Continues if `RegexAssertion(rawValue: a)` holds.
        case assert
        case match
    }

    struct Instruction: Sendable {
        var op: Op
        var a: Int32
        var b: Int32
    }

    /// Longest program a pattern may compile to: a Pike VM's work per input byte is bounded by it.
    static let maxInstructions = 4096

    var instructions: [Instruction] = []
    var sets: [RegexScalarSet] = []
    /// Capturing groups, numbered from 1 (group 0 is the whole match).
    var groupCount = 0
    /// The pattern can only match at the start of the text (it begins with `^` or `\A` outside `(?m)`).
    var anchoredAtStart = false
    /// Literals that rule out most texts before the VM runs.
    var prefilter = RegexPrefilter()
    /// The whole pattern is `prefilter.starts[0]` and nothing else (no assertion, no choice): a substring search
    /// answers it.
    var isLiteral = false
    /// The pattern matches the empty string somewhere (it can match without consuming anything).
    var canMatchEmpty = false

    static func compile(_ node: RegexNode, groups: Int, pattern: String) throws(RegexError) -> RegexProgram {
        let size = node.programSize
        guard size <= maxInstructions - 3 else {
            throw RegexError(
                message: "the pattern expands to more than \(maxInstructions) instructions (large {m,n} counts multiply)",
                offset: 0)
        }
        var program = RegexProgram()
        program.groupCount = groups
        program.instructions.reserveCapacity(size + 3)
        program.emit(.save, 0)
        program.emit(node)
        program.emit(.save, 1)
        program.emit(.match)
        program.anchoredAtStart = Self.startsWithTextStart(node)
        program.canMatchEmpty = node.canBeEmpty
        var complete = true
        var literal = RegexLiteral(bytes: [], folded: [])
        Self.collectPrefix(node, into: &literal, complete: &complete)
        program.isLiteral = complete && !literal.isEmpty && !Self.hasAssertion(node)
        if let starts = Self.startLiterals(node) {
            program.prefilter.starts = starts
        } else {
            program.prefilter.inner = Self.innerLiteral(node)
        }
        return program
    }

    // MARK: emitting

    @discardableResult
    private mutating func emit(_ op: Op, _ a: Int32 = 0, _ b: Int32 = 0) -> Int {
        instructions.append(Instruction(op: op, a: a, b: b))
        return instructions.count - 1
    }

    private var here: Int32 { Int32(instructions.count) }

    private mutating func emit(_ node: RegexNode) {
        switch node {
        case .empty:
            break
        case .scalar(let c):
            emit(.scalar, Int32(bitPattern: c))
        case .set(let set):
            if let index = sets.firstIndex(of: set) {
                emit(.set, Int32(index))
            } else {
                sets.append(set)
                emit(.set, Int32(sets.count - 1))
            }
        case .any(let dotAll):
            emit(.any, dotAll ? 1 : 0)
        case .concat(let nodes):
            for n in nodes { emit(n) }
        case .alternate(let nodes):
            var jumps: [Int] = []
            for (k, n) in nodes.enumerated() {
                if k < nodes.count - 1 {
                    let split = emit(.split)
                    instructions[split].a = here
                    emit(n)
                    jumps.append(emit(.jump))
                    instructions[split].b = here
                } else {
                    emit(n)
                }
            }
            for j in jumps { instructions[j].a = here }
        case .group(let body, let index):
            if let index { emit(.save, Int32(2 * index)) }
            emit(body)
            if let index { emit(.save, Int32(2 * index + 1)) }
        case .repetition(let body, let min, let max, let greedy):
            for _ in 0..<min { emit(body) }
            if let max {
                var exits: [Int] = []
                for _ in min..<max {
                    let split = emit(.split)
                    exits.append(split)
                    emit(body)
                }
                for s in exits { patch(split: s, body: s + 1, exit: Int(here), greedy: greedy) }
            } else {
                let split = emit(.split)
                emit(body)
                emit(.jump, Int32(split))
                patch(split: split, body: split + 1, exit: Int(here), greedy: greedy)
            }
        case .assertion(let kind):
            emit(.assert, kind.rawValue)
        }
    }

    private mutating func patch(split: Int, body: Int, exit: Int, greedy: Bool) {
        instructions[split].a = Int32(greedy ? body : exit)
        instructions[split].b = Int32(greedy ? exit : body)
    }

    // MARK: analysis

    private static func startsWithTextStart(_ node: RegexNode) -> Bool {
        switch node {
        case .assertion(.textStart): return true
        case .concat(let nodes): return nodes.first.map(startsWithTextStart) ?? false
        case .group(let body, _): return startsWithTextStart(body)
        case .alternate(let nodes): return !nodes.isEmpty && nodes.allSatisfy(startsWithTextStart)
        default: return false
        }
    }

    /// Literals one of which every match starts with (a branch each for an alternation), or nil if some match
    /// could start otherwise. At most 8.
    private static func startLiterals(_ node: RegexNode) -> [RegexLiteral]? {
        switch node {
        case .alternate(let branches):
            var all: [RegexLiteral] = []
            for branch in branches {
                guard let literals = startLiterals(branch) else { return nil }
                all += literals
                if all.count > 8 { return nil }
            }
            return all
        case .group(let body, _):
            return startLiterals(body)
        case .concat(let nodes):
            let rest = nodes.drop { if case .assertion = $0 { return true } else { return false } }
            guard let first = rest.first else { return nil }
            if case .alternate = first { return startLiterals(first) }
            if case .group(.alternate, _) = first { return startLiterals(first) }
            return single(.concat(Array(rest)))
        default:
            return single(node)
        }
        func single(_ node: RegexNode) -> [RegexLiteral]? {
            var complete = true
            var literal = RegexLiteral(bytes: [], folded: [])
            collectPrefix(node, into: &literal, complete: &complete)
            return literal.isEmpty ? nil : [literal]
        }
    }

    /// The longest run of at least two literal bytes that every match contains (among the pattern's top-level
    /// sequence), or nil.
    private static func innerLiteral(_ node: RegexNode) -> RegexLiteral? {
        guard case .concat(let nodes) = node else { return nil }
        var best: RegexLiteral?
        var run = RegexLiteral(bytes: [], folded: [])
        func close() {
            if run.count >= 2 && run.count > (best?.count ?? 0) { best = run }
            run = RegexLiteral(bytes: [], folded: [])
        }
        for n in nodes {
            var complete = true
            var piece = RegexLiteral(bytes: [], folded: [])
            collectPrefix(n, into: &piece, complete: &complete)
            if case .assertion = n { continue }
            if complete && !piece.isEmpty {
                for k in 0..<piece.count { run.append(piece.bytes[k], folded: piece.folded[k]) }
            } else {
                if !piece.isEmpty {
                    // A repeated literal: its first copy ends the run; the rest starts a new one.
                    for k in 0..<piece.count { run.append(piece.bytes[k], folded: piece.folded[k]) }
                }
                close()
            }
        }
        close()
        return best
    }

    private static func hasAssertion(_ node: RegexNode) -> Bool {
        switch node {
        case .assertion: return true
        case .concat(let nodes), .alternate(let nodes): return nodes.contains(where: hasAssertion)
        case .group(let body, _), .repetition(let body, _, _, _): return hasAssertion(body)
        default: return false
        }
    }

    /// The bytes every match starts with. `complete` stays true while the node is nothing but those bytes
    /// (and zero-width assertions, which `isLiteral` excludes separately).
    private static func collectPrefix(_ node: RegexNode, into literal: inout RegexLiteral, complete: inout Bool) {
        guard complete else { return }
        switch node {
        case .empty, .assertion:
            break
        case .scalar(let c):
            var utf8: [UInt8] = []
            JSONEscapes.appendUTF8(c, to: &utf8)
            for b in utf8 { literal.append(b, folded: false) }
        case .set(let set):
            // A case-folded ASCII letter is the one set that is still a literal.
            if !set.negated, set.low == 0, set.ranges.isEmpty, set.high.nonzeroBitCount == 2 {
                let first = UInt8(64 + set.high.trailingZeroBitCount)
                if RegexParser.isASCIILetter(UInt32(first)), set.contains(UInt32(first ^ 0x20)) {
                    literal.append(first | 0x20, folded: true)
                    return
                }
            }
            complete = false
        case .concat(let nodes):
            for n in nodes {
                collectPrefix(n, into: &literal, complete: &complete)
                if !complete { return }
            }
        case .group(let body, _):
            collectPrefix(body, into: &literal, complete: &complete)
        case .repetition(let body, let min, let max, _):
            if min >= 1 {
                collectPrefix(body, into: &literal, complete: &complete)
                if max != 1 || min != 1 { complete = false }
            } else {
                complete = false
            }
        case .any, .alternate:
            complete = false
        }
    }
}

/// Literals found with `memchr` before the VM runs: the starts every match begins with (the VM only starts a thread
/// where one occurs), or else a literal every match contains (a text without it is refused at once).
struct RegexPrefilter: Sendable {
    var starts: [RegexLiteral] = []
    var inner: RegexLiteral?

    /// False when the text cannot hold a match (no start literal, or no inner literal, occurs in it).
    func mayMatch(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        if !starts.isEmpty { return nextStart(in: text, from: 0) != nil }
        if let inner { return inner.find(in: text, from: 0) != nil }
        return true
    }

    /// The first position at or after `from` where one of `starts` occurs.
    func nextStart(in text: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        if starts.count == 1 { return starts[0].find(in: text, from: from) }
        var best: Int?
        for literal in starts {
            let limit = best ?? text.count
            if let at = literal.find(in: UnsafeBufferPointer(rebasing: text[0..<min(text.count, limit + literal.count)]), from: from),
                at < (best ?? Int.max)
            {
                best = at
            }
        }
        return best
    }
}
