/// A regular expression matched in time linear in the text (a Pike VM over UTF-8, one Unicode scalar per step,
/// every thread advanced in lockstep): no pattern can make it backtrack, so patterns from a module twin are safe.
/// The syntax is Python's `re` with `re.ASCII` (see `RegexParser` for the subset); leftmost-first matching with
/// greedy and lazy quantifiers gives the same matches as Python's, except that a repeated group that matched the
/// empty string is not tried again (RE2's rule).
///
/// Matching needs a `RegexScratch`: one per thread of work, reused for every pattern and every message.
public struct Regex: Sendable {
    public let pattern: String
    let program: RegexProgram

    /// Compiles `pattern`, or throws what is unsupported or malformed and where.
    public init(_ pattern: String) throws(RegexError) {
        self.pattern = pattern
        let (node, groups) = try RegexParser.parse(pattern)
        program = try RegexProgram.compile(node, groups: groups, pattern: pattern)
    }

    /// Capturing groups in the pattern (group 0, the whole match, not counted).
    public var groupCount: Int { program.groupCount }

    /// Instructions of the compiled program (at most 4096): a match takes at most twice this many steps per byte.
    public var instructionCount: Int { program.instructions.count }

    /// Whether the pattern can match without consuming anything (`a*`, `^`, `x?`).
    public var canMatchEmpty: Bool { program.canMatchEmpty }

    /// Whether the pattern matches somewhere in `text`.
    public func matches(_ text: UnsafeBufferPointer<UInt8>, scratch: RegexScratch) -> Bool {
        if program.isLiteral { return program.prefix.find(in: text, from: 0) != nil }
        return scratch.run(program, text, from: 0, slots: 0, earliest: true)
    }

    /// The leftmost match starting at or after `from`, with the ranges of groups 1…`groups` (nil for a group that
    /// took no part); Python's `re.search(pattern, text[from:])` shifted by `from`, for valid UTF-8.
    public func firstMatch(
        in text: UnsafeBufferPointer<UInt8>, from: Int = 0, groups: Int = 0, scratch: RegexScratch
    ) -> RegexMatch? {
        let groups = max(0, min(groups, program.groupCount))
        if program.isLiteral && groups == 0 {
            guard let at = program.prefix.find(in: text, from: from) else { return nil }
            return RegexMatch(range: at..<(at + program.prefix.count), groups: [])
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

/// The matcher's working memory, reused from one match to the next (it grows to the largest program seen). Not
/// thread-safe: one per thread of work.
public final class RegexScratch {
    /// Thread steps taken since creation (or the last reset): each is O(1), so this is the matcher's cost. Tests
    /// use it to show that hostile patterns stay linear without timing anything.
    public var steps = 0

    private var capacity = 0
    private var slotCapacity = 0
    private var marks: UnsafeMutablePointer<UInt32>
    private var generation: UInt32 = 0
    private var current: ThreadList
    private var next: ThreadList
    private var stack: UnsafeMutablePointer<Frame>
    private var working: UnsafeMutablePointer<Int>
    private(set) var matchSlots: [Int] = []

    private struct Frame {
        /// -1: explore `pc`; otherwise restore `slot` to `value`.
        var slot: Int32
        var pc: Int32
        var value: Int
    }

    private struct ThreadList {
        var pcs: UnsafeMutablePointer<Int32>
        var caps: UnsafeMutablePointer<Int>
        var count = 0

        init(capacity: Int, slots: Int) {
            pcs = .allocate(capacity: max(1, capacity))
            caps = .allocate(capacity: max(1, capacity * slots))
        }

        func free() {
            pcs.deallocate()
            caps.deallocate()
        }
    }

    public init() {
        marks = .allocate(capacity: 1)
        current = ThreadList(capacity: 0, slots: 0)
        next = ThreadList(capacity: 0, slots: 0)
        stack = .allocate(capacity: 1)
        working = .allocate(capacity: 1)
    }

    deinit {
        marks.deallocate()
        current.free()
        next.free()
        stack.deallocate()
        working.deallocate()
    }

    private func reserve(instructions: Int, slots: Int) {
        guard instructions > capacity || slots > slotCapacity else { return }
        let n = max(instructions, capacity)
        let k = max(slots, slotCapacity, 2)
        marks.deallocate()
        current.free()
        next.free()
        stack.deallocate()
        working.deallocate()
        marks = .allocate(capacity: n)
        marks.initialize(repeating: 0, count: n)
        generation = 0
        current = ThreadList(capacity: n, slots: k)
        next = ThreadList(capacity: n, slots: k)
        stack = .allocate(capacity: 2 * n + 2)
        working = .allocate(capacity: k)
        capacity = n
        slotCapacity = k
    }

    private func nextGeneration() {
        generation &+= 1
        if generation == 0 {
            marks.update(repeating: 0, count: capacity)
            generation = 1
        }
    }

    /// Runs `program` over `text` from `from`. With `earliest`, stops at the first match of any length (enough
    /// to answer yes or no); otherwise finds the leftmost-first match and leaves its `slots` in `matchSlots`.
    func run(_ program: RegexProgram, _ text: UnsafeBufferPointer<UInt8>, from: Int, slots: Int, earliest: Bool) -> Bool {
        let n = text.count
        guard from <= n else { return false }
        reserve(instructions: program.instructions.count, slots: slots)
        let prefix = program.prefix
        let usePrefix = !prefix.isEmpty
        var candidate = usePrefix ? prefix.find(in: text, from: from) : from
        if usePrefix && candidate == nil { return false }
        var matched = false
        current.count = 0
        var i = from
        return program.instructions.withUnsafeBufferPointer { ops in
            program.sets.withUnsafeBufferPointer { sets in
                while true {
                    if !matched {
                        if current.count == 0 {
                            // Nothing running: skip straight to where a match could start.
                            if program.anchoredAtStart && i > 0 { break }
                            if usePrefix {
                                if let c = candidate, c < i { candidate = prefix.find(in: text, from: i) }
                                guard let c = candidate else { break }
                                i = c
                            }
                        }
                        var startHere = !(program.anchoredAtStart && i > 0)
                        if usePrefix && startHere {
                            if let c = candidate, c < i { candidate = prefix.find(in: text, from: i) }
                            startHere = candidate == i
                        }
                        if startHere {
                            nextGenerationIfEmpty()
                            for k in 0..<slots { working[k] = -1 }
                            add(&current, pc: 0, at: i, ops: ops, text: text, slots: slots)
                        }
                    }
                    if current.count == 0 {
                        // Nothing started here: a match can only start further on.
                        if matched || i >= n || program.anchoredAtStart { break }
                        i += Self.decode(text, at: i).1
                        continue
                    }
                    // Step every thread over the scalar at i, in priority order.
                    nextGeneration()
                    next.count = 0
                    var scalar: UInt32 = 0
                    var length = 0
                    if i < n { (scalar, length) = Self.decode(text, at: i) }
                    var t = 0
                    while t < current.count {
                        let pc = Int(current.pcs[t])
                        let op = ops[pc]
                        steps += 1
                        let taken: Bool
                        switch op.op {
                        case .match:
                            matched = true
                            if earliest { return true }
                            for k in 0..<slots { working[k] = current.caps[t * slots + k] }
                            matchSlots = Array(UnsafeBufferPointer(start: working, count: slots))
                            t = current.count  // lower-priority threads are cut off
                            continue
                        case .scalar: taken = length > 0 && scalar == UInt32(bitPattern: op.a)
                        case .set: taken = length > 0 && sets[Int(op.a)].contains(scalar)
                        case .any: taken = length > 0 && (op.a == 1 || scalar != 0x0A)
                        default: taken = false
                        }
                        if taken {
                            for k in 0..<slots { working[k] = current.caps[t * slots + k] }
                            add(&next, pc: pc + 1, at: i + length, ops: ops, text: text, slots: slots)
                        }
                        t += 1
                    }
                    swap(&current, &next)
                    if i >= n { break }
                    i += length
                }
                return matched
            }
        }
    }

    /// The first thread of a step is added before the step's generation begins: give it a fresh one.
    private func nextGenerationIfEmpty() {
        if current.count == 0 { nextGeneration() }
    }

    /// Follows jumps, splits, saves and assertions from `pc` at position `at` and adds every thread that reaches a
    /// consuming instruction or the match to `list`, in priority order, each program counter once per step.
    private func add(
        _ list: inout ThreadList, pc start: Int, at position: Int, ops: UnsafeBufferPointer<RegexProgram.Instruction>,
        text: UnsafeBufferPointer<UInt8>, slots: Int
    ) {
        var top = 0
        stack[0] = Frame(slot: -1, pc: Int32(start), value: 0)
        top = 1
        while top > 0 {
            top -= 1
            let frame = stack[top]
            if frame.slot >= 0 {
                working[Int(frame.slot)] = frame.value
                continue
            }
            var pc = Int(frame.pc)
            while true {
                if marks[pc] == generation { break }
                marks[pc] = generation
                steps += 1
                let op = ops[pc]
                switch op.op {
                case .jump:
                    pc = Int(op.a)
                    continue
                case .split:
                    stack[top] = Frame(slot: -1, pc: op.b, value: 0)
                    top += 1
                    pc = Int(op.a)
                    continue
                case .save:
                    let slot = Int(op.a)
                    if slot < slots {
                        stack[top] = Frame(slot: Int32(slot), pc: 0, value: working[slot])
                        top += 1
                        working[slot] = position
                    }
                    pc += 1
                    continue
                case .assert:
                    if Self.holds(RegexAssertion(rawValue: op.a) ?? .textEnd, text, at: position) {
                        pc += 1
                        continue
                    }
                case .scalar, .set, .any, .match:
                    list.pcs[list.count] = Int32(pc)
                    for k in 0..<slots { list.caps[list.count * slots + k] = working[k] }
                    list.count += 1
                }
                break
            }
        }
    }

    @inline(__always)
    private static func holds(_ assertion: RegexAssertion, _ text: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        let n = text.count
        switch assertion {
        case .textStart: return i == 0
        case .textEnd: return i == n
        case .textEndOrFinalNewline: return i == n || (i == n - 1 && text[i] == 0x0A)
        case .lineStart: return i == 0 || text[i - 1] == 0x0A
        case .lineEnd: return i == n || text[i] == 0x0A
        case .wordBoundary, .notWordBoundary:
            let before = i > 0 && RegexScalarSet.isWord(text[i - 1])
            let after = i < n && RegexScalarSet.isWord(text[i])
            // Python's \B never matches an empty text (its documented quirk); follow it.
            if assertion == .notWordBoundary && n == 0 { return false }
            return (before != after) == (assertion == .wordBoundary)
        }
    }

    /// The scalar at `i` and its length in bytes; a byte that does not start valid UTF-8 is one step of its own,
    /// seen as a value above U+10FFFF.
    @inline(__always)
    static func decode(_ text: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let b0 = text[i]
        if b0 < 0x80 { return (UInt32(b0), 1) }
        let length = JSONWriter.validUTF8SequenceLength(text, at: i)
        switch length {
        case 2: return (UInt32(b0 & 0x1F) << 6 | UInt32(text[i + 1] & 0x3F), 2)
        case 3: return (UInt32(b0 & 0x0F) << 12 | UInt32(text[i + 1] & 0x3F) << 6 | UInt32(text[i + 2] & 0x3F), 3)
        case 4:
            return (
                UInt32(b0 & 0x07) << 18 | UInt32(text[i + 1] & 0x3F) << 12 | UInt32(text[i + 2] & 0x3F) << 6
                    | UInt32(text[i + 3] & 0x3F), 4
            )
        default: return (0x11_0000 + UInt32(b0), 1)
        }
    }
}
