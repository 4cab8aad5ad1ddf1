import EdgeLogCore

/// One policy resolved from the configuration: the types the planner works with.
public struct RotationPolicy: Sendable, Equatable {
    /// Where it comes from in the configuration, for messages: `rotation` or `rotation.policies[1]`.
    public var name: String
    /// Absolute glob(3) patterns of the managed files.
    public var patterns: [String]
    /// The time trigger.
    public var schedule: RotationSchedule
    /// Size trigger in bytes; 0 means none.
    public var maxSize: Int64
    /// Schedule floor in bytes; 0 means none.
    public var minSize: Int64
    /// Rotated files to keep.
    public var rotate: Int
    /// Rotated files last modified longer ago than this are deleted; nil means no age limit.
    public var maxAgeSeconds: Int64?
    /// gzip rotated files.
    public var compress: Bool
    /// gzip level, 1 to 9.
    public var compressionLevel: Int
    /// Leave the newest rotated file plain.
    public var delayCompress: Bool
    /// Copy and truncate in place; false renames.
    public var copyTruncate: Bool
    /// Never rotate an empty file.
    public var notIfEmpty: Bool
    /// A pattern matching nothing is not an error.
    public var missingOk: Bool
    /// Dated names (`x.log-YYYYMMDD`) instead of numbered ones.
    public var dateExt: Bool
    /// Budget over this policy's files in bytes; 0 means none.
    public var maxTotalBytes: Int64

    /// Resolves `s`; `name` is its place in the configuration.
    public init(_ s: RotationPolicySettings, name: String) {
        self.name = name
        patterns = s.paths
        schedule = RotationSchedule(rawValue: s.schedule) ?? .daily
        maxSize = s.maxSize
        minSize = s.minSize
        rotate = Int(s.rotate)
        maxAgeSeconds = s.maxAgeDays > 0 ? s.maxAgeDays * 86_400 : nil
        compress = s.compress
        compressionLevel = Int(s.compressionLevel)
        delayCompress = s.delayCompress
        copyTruncate = s.copyTruncate
        notIfEmpty = s.notIfEmpty
        missingOk = s.missingOk
        dateExt = s.dateExt
        maxTotalBytes = s.maxTotalBytes
    }

    /// The policies in force, in order (the section's own first).
    public static func resolve(_ settings: RotationSettings, containersDirectory: String) -> [RotationPolicy] {
        settings.effectivePolicies(containersDirectory: containersDirectory).enumerated().map { i, s in
            RotationPolicy(s, name: i == 0 ? "rotation" : "rotation.policies[\(i - 1)]")
        }
    }

    /// The naming scheme of this policy's rotated files.
    public var naming: RotatedNaming { RotatedNaming(dateExt: dateExt, hourly: schedule == .hourly) }
}

/// When files are rotated by time, in UTC, as logrotate decides it.
public enum RotationSchedule: String, Sendable, Equatable {
    case hourly, daily, weekly, none

    /// What the schedule says for a file last rotated at `last`, at `now` (epoch seconds).
    public func verdict(lastRotated last: Int64, now: Int64) -> ScheduleVerdict {
        let a = UTCTime(epochSeconds: last)
        let b = UTCTime(epochSeconds: now)
        let lastHour = UTCTime.floorDiv(last, 3_600)
        let nowHour = UTCTime.floorDiv(now, 3_600)
        switch self {
        case .none:
            return .notDue
        case .hourly:
            if nowHour < lastHour { return .lastRotationInFuture }
            return nowHour != lastHour ? .due : .notDue
        case .daily:
            if b.dayNumber < a.dayNumber { return .lastRotationInFuture }
            return b.dayNumber != a.dayNumber ? .due : .notDue
        case .weekly:
            if b.dayNumber < a.dayNumber { return .lastRotationInFuture }
            let weekChanged = (b.isoYear, b.isoWeek) != (a.isoYear, a.isoWeek)
            return weekChanged || now - last >= 7 * 86_400 ? .due : .notDue
        }
    }
}

/// The outcome of a schedule check.
public enum ScheduleVerdict: Sendable, Equatable {
    case due, notDue
    /// The clock is now before the period of the recorded last rotation (the clock was set back).
    case lastRotationInFuture
}
