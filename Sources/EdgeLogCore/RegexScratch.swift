/// The matcher's working memory, reused from one match to the next (it grows to the largest program seen). Not
/// thread-safe: one per thread of work.
public final class RegexScratch {
    /// Thread steps taken since creation: each is O(1), so this is the matcher's cost. Tests use it to show that
    /// hostile patterns stay linear without timing anything.
    public private(set) var steps = 0

    private var storage: PikeVM.Storage
    private(set) var matchSlots: [Int] = []

    public init() {
        storage = PikeVM.Storage(instructions: 1, slots: 2)
    }

    deinit { storage.free() }

    /// Runs `program` over `text` from `from`. With `earliest`, stops at the first match of any length (enough to
    /// answer yes or no); otherwise finds the leftmost-first match and leaves its `slots` in `matchSlots`.
    func run(_ program: RegexProgram, _ text: UnsafeBufferPointer<UInt8>, from: Int, slots: Int, earliest: Bool) -> Bool {
        guard from <= text.count else { return false }
        let filter = program.prefilter
        var candidate = from
        if !filter.starts.isEmpty {
            guard let c = filter.nextStart(in: text, from: from) else { return false }
            candidate = c
        } else if let inner = filter.inner, inner.find(in: text, from: from) == nil {
            return false
        }
        if program.instructions.count > storage.instructions || slots > storage.slots {
            let grown = PikeVM.Storage(
                instructions: max(program.instructions.count, storage.instructions), slots: max(slots, storage.slots))
            storage.free()
            storage = grown
        }
        var vm = PikeVM(storage: storage, slots: slots)
        let matched = program.instructions.withUnsafeBufferPointer { ops in
            program.sets.withUnsafeBufferPointer { sets in
                vm.run(
                    ops: ops, sets: sets, filter: filter, anchored: program.anchoredAtStart, text: text, from: from,
                    candidate: candidate, earliest: earliest)
            }
        }
        storage.generation = vm.storage.generation
        steps &+= vm.steps
        if matched && !earliest { matchSlots = Array(UnsafeBufferPointer(start: vm.storage.best, count: slots)) }
        return matched
    }
}

/// One run of the Pike VM, on a scratch's memory: every thread is a program counter with its capture slots, all
/// advanced over the same scalar in priority order, each program counter at most once per step. A value type
/// living on the stack while it runs, so the hot loop touches no class properties.
struct PikeVM {
    /// Memory for a program of up to `instructions` instructions and `slots` capture slots.
    struct Storage {
        let instructions: Int
        let slots: Int
        var generation: UInt32 = 0
        let marks: UnsafeMutablePointer<UInt32>
        let listA: ThreadList
        let listB: ThreadList
        let stack: UnsafeMutablePointer<Frame>
        /// Capture slots being built while threads are added.
        let working: UnsafeMutablePointer<Int>
        /// The slots of the best match so far.
        let best: UnsafeMutablePointer<Int>

        init(instructions: Int, slots: Int) {
            self.instructions = max(1, instructions)
            self.slots = max(2, slots)
            marks = .allocate(capacity: self.instructions)
            marks.initialize(repeating: 0, count: self.instructions)
            listA = ThreadList(capacity: self.instructions, slots: self.slots)
            listB = ThreadList(capacity: self.instructions, slots: self.slots)
            stack = .allocate(capacity: 2 * self.instructions + 2)
            working = .allocate(capacity: self.slots)
            best = .allocate(capacity: self.slots)
        }

        func free() {
            marks.deallocate()
            listA.free()
            listB.free()
            stack.deallocate()
            working.deallocate()
            best.deallocate()
        }
    }

    struct Frame {
        /// -1: explore `pc`; otherwise restore `slot` to `value`.
        var slot: Int32
        var pc: Int32
        var value: Int
    }

    struct ThreadList {
        let pcs: UnsafeMutablePointer<Int32>
        let caps: UnsafeMutablePointer<Int>
        var count = 0

        init(capacity: Int, slots: Int) {
            pcs = .allocate(capacity: capacity)
            caps = .allocate(capacity: capacity * slots)
        }

        func free() {
            pcs.deallocate()
            caps.deallocate()
        }
    }

    var storage: Storage
    let slots: Int
    var steps = 0

    init(storage: Storage, slots: Int) {
        self.storage = storage
        self.slots = slots
    }

    private mutating func nextGeneration() {
        storage.generation &+= 1
        if storage.generation == 0 {
            storage.marks.update(repeating: 0, count: storage.instructions)
            storage.generation = 1
        }
    }

    mutating func run(
        ops: UnsafeBufferPointer<RegexProgram.Instruction>, sets: UnsafeBufferPointer<RegexScalarSet>,
        filter: RegexPrefilter, anchored: Bool, text: UnsafeBufferPointer<UInt8>, from: Int, candidate first: Int,
        earliest: Bool
    ) -> Bool {
        let n = text.count
        let usePrefix = !filter.starts.isEmpty
        var candidate: Int? = first
        var matched = false
        var i = from
        let working = storage.working
        var current = storage.listA
        var next = storage.listB
        var steps = 0
        defer { self.steps &+= steps }
        current.count = 0
        while true {
            if !matched {
                if current.count == 0 {
                    // Nothing running: skip straight to where a match could start.
                    if anchored && i > 0 { break }
                    if usePrefix {
                        if let c = candidate, c < i { candidate = filter.nextStart(in: text, from: i) }
                        guard let c = candidate else { break }
                        i = c
                    }
                }
                var startHere = !(anchored && i > 0)
                if usePrefix && startHere {
                    if let c = candidate, c < i { candidate = filter.nextStart(in: text, from: i) }
                    startHere = candidate == i
                }
                if startHere {
                    if current.count == 0 { nextGeneration() }
                    for k in 0..<slots { working[k] = -1 }
                    add(&current, pc: 0, at: i, ops: ops, text: text, steps: &steps)
                }
            }
            if current.count == 0 {
                // Nothing started here: a match can only start further on.
                if matched || i >= n || anchored { break }
                i += RegexScalar.decode(text, at: i).1
                continue
            }
            // Step every thread over the scalar at i, in priority order.
            nextGeneration()
            next.count = 0
            var scalar: UInt32 = 0
            var length = 0
            if i < n { (scalar, length) = RegexScalar.decode(text, at: i) }
            var t = 0
            while t < current.count {
                let pc = Int(current.pcs[t])
                let op = ops[pc]
                steps &+= 1
                let taken: Bool
                switch op.op {
                case .match:
                    matched = true
                    if earliest { return true }
                    for k in 0..<slots { storage.best[k] = current.caps[t * slots + k] }
                    t = current.count  // lower-priority threads are cut off
                    continue
                case .scalar: taken = length > 0 && scalar == UInt32(bitPattern: op.a)
                case .set: taken = length > 0 && sets[Int(op.a)].contains(scalar)
                case .any: taken = length > 0 && (op.a == 1 || scalar != 0x0A)
                default: taken = false
                }
                if taken {
                    for k in 0..<slots { working[k] = current.caps[t * slots + k] }
                    add(&next, pc: pc + 1, at: i + length, ops: ops, text: text, steps: &steps)
                }
                t += 1
            }
            swap(&current, &next)
            if i >= n { break }
            i += length
        }
        return matched
    }

    /// Follows jumps, splits, saves and assertions from `start` at `position` and adds every thread that reaches a
    /// consuming instruction or the match to `list`, in priority order, each program counter once per step.
    private func add(
        _ list: inout ThreadList, pc start: Int, at position: Int, ops: UnsafeBufferPointer<RegexProgram.Instruction>,
        text: UnsafeBufferPointer<UInt8>, steps: inout Int
    ) {
        let marks = storage.marks
        let generation = storage.generation
        let stack = storage.stack
        let working = storage.working
        stack[0] = Frame(slot: -1, pc: Int32(start), value: 0)
        var top = 1
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
                steps &+= 1
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
                    if RegexScalar.holds(RegexAssertion(rawValue: op.a) ?? .textEnd, text, at: position) {
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
}

/// Reading the text one scalar at a time, and the zero-width tests.
enum RegexScalar {
    @inline(__always)
    static func holds(_ assertion: RegexAssertion, _ text: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        let n = text.count
        switch assertion {
        case .textStart: return i == 0
        case .textEnd: return i == n
        case .textEndOrFinalNewline: return i == n || (i == n - 1 && text[i] == 0x0A)
        case .lineStart: return i == 0 || text[i - 1] == 0x0A
        case .lineEnd: return i == n || text[i] == 0x0A
        case .wordBoundary, .notWordBoundary:
            // Python's \B never matches an empty text (its documented quirk); follow it.
            if assertion == .notWordBoundary && n == 0 { return false }
            let before = i > 0 && RegexScalarSet.isWord(text[i - 1])
            let after = i < n && RegexScalarSet.isWord(text[i])
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
