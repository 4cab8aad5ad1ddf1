import EdgeLogCore
/// A moment in UTC broken into the calendar fields the schedule and dated names need. Pure arithmetic
/// (no time zone database, no C library), so the planner stays deterministic under an injected clock.
public struct UTCTime: Sendable, Equatable {
    public let year: Int
    public let month: Int
    public let day: Int
    public let hour: Int
    /// Days since 1970-01-01.
    public let dayNumber: Int64
    /// ISO 8601 week-numbering year and week (weeks start on Monday).
    public let isoYear: Int
    public let isoWeek: Int

    public init(epochSeconds: Int64) {
        let days = Self.floorDiv(epochSeconds, 86_400)
        dayNumber = days
        hour = Int((epochSeconds - days * 86_400) / 3_600)
        (year, month, day) = Self.civil(fromDays: days)
        // ISO week: the week belongs to the year of its Thursday.
        let weekday = Int(Self.floorMod(days + 3, 7)) + 1  // 1 = Monday ... 7 = Sunday (1970-01-01 was a Thursday)
        let thursday = days - Int64(weekday) + 4
        let (thursdayYear, _, _) = Self.civil(fromDays: thursday)
        isoYear = thursdayYear
        let firstOfYear = Self.days(fromCivil: thursdayYear, 1, 1)
        isoWeek = Int((thursday - firstOfYear) / 7) + 1
    }

    /// `YYYYMMDD`, or `YYYYMMDDHH` with `hour`: logrotate's dateext suffixes without the dash.
    public func stamp(withHour: Bool) -> String {
        var s = Self.pad(year, 4) + Self.pad(month, 2) + Self.pad(day, 2)
        if withHour { s += Self.pad(hour, 2) }
        return s
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` for `epochSeconds` (for the state file and messages).
    public static func iso8601(_ epochSeconds: Int64) -> String {
        let t = UTCTime(epochSeconds: epochSeconds)
        let secondOfDay = epochSeconds - t.dayNumber * 86_400
        let minute = Int(secondOfDay % 3_600 / 60)
        let second = Int(secondOfDay % 60)
        return "\(pad(t.year, 4))-\(pad(t.month, 2))-\(pad(t.day, 2))T\(pad(t.hour, 2)):\(pad(minute, 2)):\(pad(second, 2))Z"
    }

    /// Seconds since the epoch of a UTC date and hour (for tests and clocks).
    public static func epochSeconds(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) -> Int64 {
        days(fromCivil: year, month, day) * 86_400 + Int64(hour * 3_600 + minute * 60 + second)
    }

    // The calendar arithmetic is Core's (Hinnant's days_from_civil / civil_from_days).
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        Timestamp.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
    }

    static func civil(fromDays days: Int64) -> (Int, Int, Int) {
        let (year, month, day) = Timestamp.civilFromDays(days)
        return (Int(year), Int(month), Int(day))
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
