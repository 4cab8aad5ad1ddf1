import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// Which journal fields go to a record's `Extra`, decided on the field name's bytes.
///
/// A plain list of names (the default) is matched byte for byte and keeps the list's order; a list with
/// globs or `!` exclusions is evaluated once per distinct field name and the answer cached.
struct JournalFieldSelector {
    /// Fields that are columns of their own and never repeated in `Extra`.
    static let columnFields = ["MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "_SYSTEMD_UNIT"]

    private let patterns: [String]
    /// Plain names, when no pattern has a glob or `!`.
    private let names: [[UInt8]]?
    private var cache: [UInt64: [(name: [UInt8], selected: Bool)]] = [:]
    private var cached = 0

    init(patterns: [String]) {
        self.patterns = patterns
        let plain = !patterns.contains { $0.hasPrefix("!") || $0.contains("*") || $0.contains("?") }
        names = plain ? patterns.filter { !Self.columnFields.contains($0) }.map { Array($0.utf8) } : nil
    }

    /// True when fields are kept in the list's order (plain names), false when sorted by name (patterns).
    var keepsListOrder: Bool { names != nil }

    /// The position of a selected field in the list (plain names) or 0 (patterns); nil when not selected.
    mutating func select(_ name: UnsafeBufferPointer<UInt8>) -> Int? {
        if let names {
            for (i, candidate) in names.enumerated() where candidate.count == name.count {
                if Self.equal(candidate, name) {
                    return i
                }
            }
            return nil
        }
        let key = Self.hash(name)
        if let entries = cache[key] {
            for entry in entries where Self.equal(entry.name, name) { return entry.selected ? 0 : nil }
        }
        let text = String(decoding: name, as: UTF8.self)
        let selected = !Self.columnFields.contains(text) && Glob.selects(text, patterns: patterns)
        if cached >= 4096 {
            // A journal with unbounded distinct field names: start the cache over rather than grow.
            cache.removeAll(keepingCapacity: true)
            cached = 0
        }
        cache[key, default: []].append((Array(name), selected))
        cached += 1
        return selected ? 0 : nil
    }

    /// Byte equality with memcmp (the generic `elementsEqual` is slow on the hot path).
    @inline(__always)
    static func equal(_ a: [UInt8], _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard let base = b.baseAddress, !a.isEmpty else { return true }
        return a.withUnsafeBufferPointer { memcmp($0.baseAddress!, base, b.count) == 0 }
    }

    /// FNV-1a.
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
