/// The text of a progress line: `412.3 of 1,000.0 MB (41%) · 24.1 MB/s · ETA 0:24 · 1,234 records read, 1,200 shipped`.
public enum ProgressLine {
    /// - Parameters:
    ///   - done: bytes done so far.
    ///   - total: bytes to do, if known (an estimate: `done` may pass it, then it is shown as done).
    ///   - seconds: time since the start.
    ///   - detail: appended after the figures (record counts, the current file).
    public static func format(done: Int64, total: Int64?, seconds: Double, detail: String = "") -> String {
        var parts: [String] = []
        if let total, total > 0 {
            let shown = max(total, done)
            parts.append("\(megabytes(done)) of \(megabytes(shown)) MB (\(Int(Double(done) * 100 / Double(shown)))%)")
        } else {
            parts.append("\(megabytes(done)) MB")
        }
        let rate = seconds > 0 ? Double(done) / seconds : 0
        parts.append("\(megabytes(Int64(rate))) MB/s")
        if let total, total > done, rate > 0 {
            parts.append("ETA \(clock(Double(total - done) / rate))")
        }
        if !detail.isEmpty { parts.append(detail) }
        return parts.joined(separator: " · ")
    }

    /// Bytes as MB (10^6) with one decimal and thousands separators: `1,000.0`.
    static func megabytes(_ bytes: Int64) -> String {
        let tenths = (max(0, bytes) + 50_000) / 100_000
        return "\(grouped(tenths / 10)).\(tenths % 10)"
    }

    /// `1234567` → `1,234,567`.
    public static func grouped(_ n: Int64) -> String {
        let digits = Array(String(n.magnitude))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// `m:ss`, or `h:mm:ss` from an hour on.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        if s >= 3600 { return "\(s / 3600):\(two(s / 60 % 60)):\(two(s % 60))" }
        return "\(s / 60):\(two(s % 60))"
    }
}
