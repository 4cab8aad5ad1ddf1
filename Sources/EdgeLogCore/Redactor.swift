/// Applies redaction rules to a message's bytes, rule after rule, each to every non-overlapping match from left
/// to right (Python's `re.sub`). A message that no rule's literal prefix occurs in costs one `memchr` scan per rule
/// and is not copied.
struct Redactor {
    private struct Rule {
        let regex: Regex
        let pieces: [RedactionRule.Piece]
        /// Highest group the replacement refers to: the matcher tracks only those.
        let groups: Int
    }

    private let rules: [Rule]
    /// Each rule's literals, apart, so a message none occurs in is passed over without touching the rules.
    private let prefilters: [RegexPrefilter]

    /// The longest replacement text: with matches at least one byte long, a message can grow by this factor at most.
    static let maxReplacementBytes = 256

    /// Compiles `rules`; one that does not compile (the configuration was validated, so none should) is skipped.
    init(_ rules: [RedactionRule]) {
        self.rules = rules.compactMap { rule in
            guard let regex = try? Regex(rule.pattern), !regex.canMatchEmpty else { return nil }
            let pieces = RedactionRule.pieces(rule.replacement)
            var groups = 0
            for case .group(let g) in pieces { groups = max(groups, g) }
            guard groups <= regex.groupCount else { return nil }
            return Rule(regex: regex, pieces: pieces, groups: groups)
        }
        prefilters = self.rules.map(\.regex.program.prefilter)
    }

    var isEmpty: Bool { rules.isEmpty }

    /// Redacts `message`. Returns how many matches were replaced; when more than 0, `out` holds the result
    /// (`spare` is working space). Grows a message by at most 64 KiB or its own length: past that, the rest of
    /// the message is cut rather than shipped unredacted.
    func redact(
        _ message: UnsafeBufferPointer<UInt8>, scratch: RegexScratch, out: inout [UInt8], spare: inout [UInt8]
    ) -> Int {
        var total = 0
        var haveOut = false
        let limit = message.count + max(message.count, 64 << 10)
        for i in rules.indices {
            let replaced: Int
            if haveOut {
                replaced = out.withUnsafeBufferPointer { text in
                    prefilters[i].mayMatch(text) ? apply(rules[i], to: text, into: &spare, limit: limit, scratch: scratch) : 0
                }
            } else {
                guard prefilters[i].mayMatch(message) else { continue }
                replaced = apply(rules[i], to: message, into: &spare, limit: limit, scratch: scratch)
            }
            if replaced > 0 {
                swap(&out, &spare)
                haveOut = true
                total += replaced
            }
        }
        return total
    }

    private func apply(
        _ rule: Rule, to text: UnsafeBufferPointer<UInt8>, into dest: inout [UInt8], limit: Int, scratch: RegexScratch
    ) -> Int {
        var position = 0
        var replaced = 0
        while position < text.count,
            let match = rule.regex.firstMatch(in: text, from: position, groups: rule.groups, scratch: scratch)
        {
            if replaced == 0 { dest.removeAll(keepingCapacity: true) }
            dest.append(contentsOf: UnsafeBufferPointer(rebasing: text[position..<match.range.lowerBound]))
            for piece in rule.pieces {
                switch piece {
                case .text(let bytes):
                    dest.append(contentsOf: bytes)
                case .group(0):
                    dest.append(contentsOf: UnsafeBufferPointer(rebasing: text[match.range]))
                case .group(let g):
                    if let range = match.groups[g - 1] { dest.append(contentsOf: UnsafeBufferPointer(rebasing: text[range])) }
                }
            }
            replaced += 1
            position = match.range.upperBound
            if match.range.isEmpty {  // cannot happen for a validated rule; step over one byte, keeping it
                dest.append(text[position])
                position += 1
            }
            if dest.count > limit { return replaced }  // the rest is cut, not shipped unredacted
        }
        if replaced > 0 && position < text.count {
            dest.append(contentsOf: UnsafeBufferPointer(rebasing: text[position...]))
        }
        return replaced
    }
}
