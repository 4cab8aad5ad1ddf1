/// `rateLimit` of a rule: a token bucket per module (or journal unit) refilled at `linesPerSecond`, holding at most
/// `burst` lines.
public struct RateLimitSettings: Sendable, Equatable {
    public var linesPerSecond: Double
    public var burst: Int64

    public init(linesPerSecond: Double, burst: Int64? = nil) {
        self.linesPerSecond = linesPerSecond
        self.burst = burst ?? Self.defaultBurst(linesPerSecond)
    }

    /// One second's worth, at least one line.
    static func defaultBurst(_ rate: Double) -> Int64 { max(1, Int64(rate.rounded(.up))) }

    init(reading r: inout ConfigReader) {
        linesPerSecond = 1
        let fix = "give the lines per second to let through, from 0.001 to 1000000, e.g. 200"
        switch r.raw("linesPerSecond") {
        case nil:
            r.report("linesPerSecond", "is missing", fix: fix)
        case .int(let i)? where i > 0 && i <= 1_000_000:
            linesPerSecond = Double(i)
        case .double(let d)? where d >= 0.001 && d <= 1_000_000:
            linesPerSecond = d
        case .int(let i)?:
            r.report("linesPerSecond", "\(i) is out of range", fix: fix)
        case .double(let d)?:
            r.report("linesPerSecond", "\(d) is out of range", fix: fix)
        case let other?:
            r.report("linesPerSecond", "is \(other.typeName)", fix: fix)
        }
        burst = r.int("burst", Self.defaultBurst(linesPerSecond), min: 1, max: 10_000_000)
    }

    public var json: JSONValue {
        .object([("linesPerSecond", .double(linesPerSecond)), ("burst", .int(burst))])
    }
}
