#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// RFC 3339 timestamps, parsed and formatted on bytes (UTC, proleptic Gregorian calendar).
/// Calendar arithmetic: Howard Hinnant's days-from-civil / civil-from-days algorithms.
public enum Timestamp {
    /// Parses RFC 3339 with optional fraction (up to 9 digits kept; more digits truncated) and `Z` or `±hh:mm`
    /// offset, and also lower-case t/z. Returns seconds since the Unix epoch (UTC) and nanoseconds.
    /// Years 0001-9999; invalid dates (Feb 30, Feb 29 of a common year, …) are rejected. A leap second (:60)
    /// is accepted and counts as the first second of the next minute.
    public static func parse(_ b: UnsafeBufferPointer<UInt8>) -> (seconds: Int64, nanos: Int32)? {
        let n = b.count
        guard n >= 20,
            let year = digits(b, 0, 4), b[4] == UInt8(ascii: "-"),
            let month = digits(b, 5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(b, 8, 2), b[10] | 0x20 == UInt8(ascii: "t"),
            let hour = digits(b, 11, 2), b[13] == UInt8(ascii: ":"),
            let minute = digits(b, 14, 2), b[16] == UInt8(ascii: ":"),
            let second = digits(b, 17, 2)
        else { return nil }
        guard year >= 1, month >= 1, month <= 12, day >= 1, day <= daysInMonth(year: year, month: month),
            hour < 24, minute < 60, second < 61
        else { return nil }

        var i = 19
        var nanos: Int64 = 0
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < n, b[i] >= 0x30, b[i] <= 0x39 {
                if i - start < 9 { nanos = nanos * 10 + Int64(b[i] - 0x30) }
                i += 1
            }
            let count = i - start
            guard count > 0 else { return nil }
            if count < 9 {
                for _ in count..<9 { nanos *= 10 }
            }
        }

        guard i < n else { return nil }
        var offset: Int64 = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard i + 6 <= n, let oh = digits(b, i + 1, 2), b[i + 3] == UInt8(ascii: ":"),
                let om = digits(b, i + 4, 2), oh < 24, om < 60
            else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        default:
            return nil
        }
        guard i == n else { return nil }

        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
        return (seconds, Int32(nanos))
    }

    public static func parse(_ bytes: [UInt8]) -> (seconds: Int64, nanos: Int32)? {
        bytes.withUnsafeBufferPointer { parse($0) }
    }

    public static func parse(_ string: String) -> (seconds: Int64, nanos: Int32)? {
        var string = string
        return string.withUTF8 { parse($0) }
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.fffffffffZ` with exactly `fractionDigits` digits (0...9; 0 omits the dot;
    /// the fraction is truncated, not rounded). UTC. `nanos` outside 0..<1e9 is carried into the seconds.
    public static func appendRFC3339(seconds: Int64, nanos: Int32, fractionDigits: Int = 9, to out: inout [UInt8]) {
        var seconds = seconds
        var nanos = Int64(nanos)
        if nanos < 0 || nanos >= 1_000_000_000 {
            seconds = seconds &+ floorDiv(nanos, 1_000_000_000)
            nanos = nanos - floorDiv(nanos, 1_000_000_000) * 1_000_000_000
        }
        let days = floorDiv(seconds, 86400)
        let secondOfDay = seconds - days * 86400
        let (year, month, day) = civilFromDays(days)

        if year < 0 { out.append(UInt8(ascii: "-")) }
        let absYear = year.magnitude
        if absYear > 9999 {
            out.append(contentsOf: String(absYear).utf8)
        } else {
            appendDigits(Int64(absYear), count: 4, to: &out)
        }
        out.append(UInt8(ascii: "-"))
        appendDigits(month, count: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(day, count: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        appendDigits(secondOfDay / 3600, count: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, count: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, count: 2, to: &out)
        let fraction = min(max(fractionDigits, 0), 9)
        if fraction > 0 {
            out.append(UInt8(ascii: "."))
            var divisor: Int64 = 100_000_000
            for _ in 0..<fraction {
                out.append(0x30 + UInt8(nanos / divisor % 10))
                divisor /= 10
            }
        }
        out.append(UInt8(ascii: "Z"))
    }

    /// True if `bytes` is already canonical UTC RFC 3339 of the form `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`
    /// (upper-case T and Z; digits checked, month 1-12, day 1-31, hour < 24, minute < 60, second < 61)
    /// so it can be copied through unchanged.
    public static func isCanonicalUTC(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = b.count
        guard n >= 20, n <= 30, n != 21,
            digits(b, 0, 4) != nil, b[4] == UInt8(ascii: "-"),
            let month = digits(b, 5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(b, 8, 2), b[10] == UInt8(ascii: "T"),
            let hour = digits(b, 11, 2), b[13] == UInt8(ascii: ":"),
            let minute = digits(b, 14, 2), b[16] == UInt8(ascii: ":"),
            let second = digits(b, 17, 2),
            b[n - 1] == UInt8(ascii: "Z")
        else { return false }
        guard month >= 1, month <= 12, day >= 1, day <= 31, hour < 24, minute < 60, second < 61 else { return false }
        if n == 20 { return true }
        // n is 22...30: a dot and 1...9 digits before the Z.
        guard b[19] == UInt8(ascii: ".") else { return false }
        for k in 20..<(n - 1) where b[k] < 0x30 || b[k] > 0x39 { return false }
        return true
    }

    public static func isCanonicalUTC(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { isCanonicalUTC($0) }
    }

    /// Microseconds since the epoch (journald's __REALTIME_TIMESTAMP) formatted with 6 fraction digits.
    public static func appendRFC3339(microseconds: UInt64, to out: inout [UInt8]) {
        let seconds = Int64(microseconds / 1_000_000)
        let nanos = Int32(microseconds % 1_000_000) * 1000
        appendRFC3339(seconds: seconds, nanos: nanos, fractionDigits: 6, to: &out)
    }

    /// Current wall-clock time (CLOCK_REALTIME): seconds since the epoch and nanoseconds.
    public static func now() -> (seconds: Int64, nanos: Int32) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int64(ts.tv_sec), Int32(ts.tv_nsec))
    }

    // MARK: Calendar

    /// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil).
    public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's civil_from_days).
    public static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    static func isLeapYear(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // MARK: Digits

    @inline(__always)
    static func digits(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Int64? {
        var value: Int64 = 0
        for k in start..<(start + count) {
            let c = b[k]
            guard c >= 0x30, c <= 0x39 else { return nil }
            value = value * 10 + Int64(c - 0x30)
        }
        return value
    }

    @inline(__always)
    static func appendDigits(_ value: Int64, count: Int, to out: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<count { divisor *= 10 }
        while divisor > 0 {
            out.append(0x30 + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }

    @inline(__always)
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
