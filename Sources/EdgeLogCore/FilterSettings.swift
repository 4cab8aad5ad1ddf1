/// The `filters` section: which records are kept, per container module, journal unit or identifier. An ordered
/// list of rules, each a `match` block and what to do with the records it matches; the first rule that matches a
/// record decides, and a record no rule matches is kept. Applied per record before batching, live through the
/// twin like every section.
public struct FilterSettings: Sendable, Equatable {
    /// Apply the rules at all (redaction is the `redaction` section's, and stays on whatever this says).
    public var enabled = true
    public var rules: [FilterRule] = []
    /// How often a rate limit that dropped lines says so, in one record per module (or journal unit).
    public var rateLimitReportSeconds: Double = 60
    /// Most modules and units the rate limits keep a bucket for; beyond it the least recently seen is forgotten
    /// (its drops still reported).
    public var rateLimitMaxKeys: Int64 = 1000

    static let maxRules = 256

    public init() {}

    init(reading r: inout ConfigReader) {
        enabled = r.bool("enabled", enabled)
        if let read = r.objects("rules", max: Self.maxRules, fix: "give a list of rules, each {\"match\": {…}, …}", FilterRule.init(reading:)) {
            rules = read
        }
        rateLimitReportSeconds = r.seconds("rateLimitReportSeconds", rateLimitReportSeconds, min: 1, max: 86_400)
        rateLimitMaxKeys = r.int("rateLimitMaxKeys", rateLimitMaxKeys, min: 1, max: 100_000)
    }

    public var json: JSONValue {
        .object([
            ("enabled", .bool(enabled)),
            ("rules", .array(rules.map(\.json))),
            ("rateLimitReportSeconds", .double(rateLimitReportSeconds)),
            ("rateLimitMaxKeys", .int(rateLimitMaxKeys)),
        ])
    }
}
