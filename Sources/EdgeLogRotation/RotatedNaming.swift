/// logrotate's names for rotated files, next to the live file `x.log`:
/// - numbered: `x.log.1` (newest) ... `x.log.N`, compressed ones `x.log.2.gz`;
/// - dateext: `x.log-YYYYMMDD` (hourly schedule: `x.log-YYYYMMDDHH`), compressed `x.log-YYYYMMDD.gz`. EdgeLog adds
///   `-2`, `-3`, ... (`x.log-YYYYMMDD-2`) when a file is rotated again within the same period, which logrotate
///   refuses to do.
/// Compression goes through a hidden temporary `.x.log.2.gz.edgelog-tmp` in the same folder.
public struct RotatedNaming: Sendable, Equatable {
    public let dateExt: Bool
    public let hourly: Bool

    public static let compressedSuffix = ".gz"
    public static let temporarySuffix = ".edgelog-tmp"

    public init(dateExt: Bool, hourly: Bool) {
        self.dateExt = dateExt
        self.hourly = hourly
    }

    /// True if `name` is of this naming's form (numbered or dated).
    public func isCurrentForm(_ name: RotatedName) -> Bool { name.isDated == dateExt }

    /// The dateext stamp for `now`.
    public func stamp(now: Int64) -> String { UTCTime(epochSeconds: now).stamp(withHour: hourly) }

    /// The hidden temporary a compression into `name` writes first.
    public static func temporary(for name: String) -> String { "." + name + temporarySuffix }

    /// True if `entry` is a compression temporary of a rotated file of `base`.
    public static func isTemporary(_ entry: String, base: String) -> Bool {
        entry.hasPrefix("." + base) && entry.hasSuffix(temporarySuffix)
    }
}

/// The name of one rotated file, relative to its live file's name.
public enum RotatedName: Sendable, Equatable, Hashable {
    /// `base.index[.gz]`, index from 1.
    case numbered(index: Int, compressed: Bool)
    /// `base-stamp[-sequence][.gz]`; sequence 1 means no `-N` part.
    case dated(stamp: String, sequence: Int, compressed: Bool)

    public var compressed: Bool {
        switch self {
        case .numbered(_, let c), .dated(_, _, let c): return c
        }
    }

    public var isDated: Bool {
        if case .dated = self { return true }
        return false
    }

    /// The file name for the live file `base`.
    public func fileName(base: String) -> String {
        let gz = compressed ? RotatedNaming.compressedSuffix : ""
        switch self {
        case .numbered(let index, _):
            return "\(base).\(index)\(gz)"
        case .dated(let stamp, let sequence, _):
            return sequence > 1 ? "\(base)-\(stamp)-\(sequence)\(gz)" : "\(base)-\(stamp)\(gz)"
        }
    }

    /// The same name, compressed or not.
    public func with(compressed c: Bool) -> RotatedName {
        switch self {
        case .numbered(let index, _): return .numbered(index: index, compressed: c)
        case .dated(let stamp, let sequence, _): return .dated(stamp: stamp, sequence: sequence, compressed: c)
        }
    }

    /// For numbered names, the name one older (`.2` → `.3`).
    public var shifted: RotatedName {
        if case .numbered(let index, let c) = self { return .numbered(index: index + 1, compressed: c) }
        return self
    }

    /// Orders names of one form from newest to oldest: `.1` before `.2`; a later date (then a higher sequence)
    /// before an earlier one. Stamps of 8 digits sort as hour 00 of their day.
    public func isNewer(than other: RotatedName) -> Bool {
        switch (self, other) {
        case (.numbered(let a, _), .numbered(let b, _)):
            return a < b
        case (.dated(let s1, let q1, _), .dated(let s2, let q2, _)):
            let a = s1.count == 8 ? s1 + "00" : s1
            let b = s2.count == 8 ? s2 + "00" : s2
            return a != b ? a > b : q1 > q2
        case (.numbered, .dated):
            return false
        case (.dated, .numbered):
            return true
        }
    }

    /// Parses `entry` as a rotated file of `base`; nil if it is not one.
    public static func parse(_ entry: String, base: String) -> RotatedName? {
        guard entry.count > base.count + 1, entry.hasPrefix(base) else { return nil }
        var rest = entry.dropFirst(base.count)
        let separator = rest.first
        rest = rest.dropFirst()
        var compressed = false
        if rest.hasSuffix(RotatedNaming.compressedSuffix) {
            compressed = true
            rest = rest.dropLast(RotatedNaming.compressedSuffix.count)
        }
        if separator == "." {
            guard let index = positiveNumber(rest) else { return nil }
            return .numbered(index: index, compressed: compressed)
        }
        guard separator == "-" else { return nil }
        let parts = rest.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let stamp = parts[0]
        guard stamp.count == 8 || stamp.count == 10, stamp.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var sequence = 1
        if parts.count == 2 {
            guard let n = positiveNumber(parts[1]), n >= 2 else { return nil }
            sequence = n
        }
        return .dated(stamp: String(stamp), sequence: sequence, compressed: compressed)
    }

    /// Digits without a leading zero, at least 1.
    private static func positiveNumber(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.count <= 9, s.first != "0", s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(s)
    }
}
