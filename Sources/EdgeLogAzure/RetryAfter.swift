import EdgeLogCore

/// HTTP `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date (IMF-fixdate, and the obsolete
/// RFC 850 and asctime forms a recipient must accept). A date in the past means now.
public enum RetryAfter {
    /// Longest wait honoured: a value beyond it (a misconfigured proxy, a clock far off) is cut to it.
    public static let maximum: Duration = .seconds(3600)

    /// The wait the header asks for, or nil if it is not a valid value.
    public static func parse(_ value: String, nowMillis: Int64 = FileSystem.nowMillis()) -> Duration? {
        let text = value.trimmingASCIISpaces
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let seconds = Int64(text) else { return maximum }  // more digits than Int64: far future
            return min(.seconds(seconds), maximum)
        }
        guard let epoch = httpDate(text) else { return nil }
        let millis = epoch * 1000 - nowMillis
        return min(.milliseconds(max(0, millis)), maximum)
    }

    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Seconds since the epoch of an HTTP-date, or nil.
    public static func httpDate(_ text: String) -> Int64? {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        var day: Int64?
        var month: Int64?
        var year: Int64?
        var time: (Int64, Int64, Int64)?
        if tokens.count == 6, tokens[0].hasSuffix(","), tokens[5] == "GMT" {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            day = Int64(tokens[1])
            month = monthNumber(tokens[2])
            year = tokens[3].count == 4 ? Int64(tokens[3]) : nil
            time = clock(tokens[4])
        } else if tokens.count == 4, tokens[0].hasSuffix(","), tokens[3] == "GMT" {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
            let parts = tokens[1].split(separator: "-").map(String.init)
            guard parts.count == 3, parts[2].count == 2, let yy = Int64(parts[2]) else { return nil }
            day = Int64(parts[0])
            month = monthNumber(parts[1])
            year = yy < 70 ? 2000 + yy : 1900 + yy
            time = clock(tokens[2])
        } else if tokens.count == 5 {
            // asctime: Sun Nov  6 08:49:37 1994
            month = monthNumber(tokens[1])
            day = Int64(tokens[2])
            time = clock(tokens[3])
            year = tokens[4].count == 4 ? Int64(tokens[4]) : nil
        }
        guard let day, let month, let year, let time, (1...31).contains(day) else { return nil }
        let days = Timestamp.daysFromCivil(year: year, month: month, day: day)
        return days * 86400 + time.0 * 3600 + time.1 * 60 + time.2
    }

    private static func monthNumber(_ s: String) -> Int64? {
        months.firstIndex(of: s.lowercased()).map { Int64($0 + 1) }
    }

    private static func clock(_ s: String) -> (Int64, Int64, Int64)? {
        let parts = s.split(separator: ":")
        guard parts.count == 3, parts.allSatisfy({ $0.count == 2 }), let h = Int64(parts[0]), let m = Int64(parts[1]),
            let sec = Int64(parts[2]), h < 24, m < 60, sec <= 60
        else { return nil }
        return (h, m, sec)
    }
}

extension String {
    var trimmingASCIISpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
