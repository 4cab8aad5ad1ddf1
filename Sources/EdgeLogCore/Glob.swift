/// Shell-style name patterns: `*` any run of characters, `?` one character, everything else literal (`[` and `\\`
/// too: systemd unit names hold backslashes). Names only; paths are `PathGlob` (glob(3)); the README's "Two kinds
/// of pattern" says why the two differ.
public enum Glob {
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        matches(Array(pattern.utf8)[...], Array(name.utf8)[...])
    }

    private static func matches(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        var pi = p.startIndex
        var si = s.startIndex
        var starP = -1
        var starS = -1
        while si < s.endIndex {
            if pi < p.endIndex && (p[pi] == UInt8(ascii: "?") || p[pi] == s[si]) {
                pi += 1
                si += 1
            } else if pi < p.endIndex && p[pi] == UInt8(ascii: "*") {
                starP = pi
                starS = si
                pi += 1
            } else if starP >= 0 {
                pi = starP + 1
                starS += 1
                si = starS
            } else {
                return false
            }
        }
        while pi < p.endIndex && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.endIndex
    }

    /// Include/exclude lists: kept if `include` is empty or matches, and `exclude` does not match.
    public static func selects(_ name: String, include: [String], exclude: [String]) -> Bool {
        if exclude.contains(where: { matches($0, name) }) { return false }
        return include.isEmpty || include.contains(where: { matches($0, name) })
    }

    /// A list where `!pattern` excludes: kept if some plain pattern matches and no `!` pattern does.
    public static func selects(_ name: String, patterns: [String]) -> Bool {
        var kept = false
        for pattern in patterns {
            if pattern.hasPrefix("!") {
                if matches(String(pattern.dropFirst()), name) { return false }
            } else if matches(pattern, name) {
                kept = true
            }
        }
        return kept
    }
}
