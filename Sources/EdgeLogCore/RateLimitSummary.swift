/// "Dropped N lines of module X in the last interval": what a rate limit did, as data a source turns into one
/// record (`encode`) so the loss shows in the workspace next to the module's own lines.
public struct RateLimitSummary: Sendable, Equatable {
    public var kind: RecordKind
    /// The container (module) name, or the journal record's `ModuleId` (identifier).
    public var module: String
    /// The journal unit; empty for containers.
    public var unit: String
    public var dropped: Int
    /// From the first dropped line to the report (clock nanoseconds).
    public var sinceNanos: UInt64
    public var untilNanos: UInt64
    public var limit: RateLimiter.Limit
    /// For the one summary that adds up keys forgotten beyond `filters.rateLimitMaxKeys`: how many (else 0).
    public var otherKeys = 0

    public init(
        kind: RecordKind, module: String, unit: String, dropped: Int, sinceNanos: UInt64, untilNanos: UInt64,
        limit: RateLimiter.Limit, otherKeys: Int = 0
    ) {
        self.kind = kind
        self.module = module
        self.unit = unit
        self.dropped = dropped
        self.sinceNanos = sinceNanos
        self.untilNanos = untilNanos
        self.limit = limit
        self.otherKeys = otherKeys
    }

    /// Whole seconds from the first dropped line to the report, at least 1.
    public var seconds: Int64 { max(1, Int64((untilNanos &- sinceNanos) / 1_000_000_000)) }

    /// What was limited, in words: `module edgeHub`, `journal unit docker.service (dockerd)`.
    public var subject: String {
        if otherKeys > 0 { return "\(otherKeys) more modules and units" }
        switch kind {
        case .container: return "module \(module)"
        case .journal:
            if unit.isEmpty { return "journal identifier \(module)" }
            return module.isEmpty ? "journal unit \(unit)" : "journal unit \(unit) (\(module))"
        }
    }

    /// The record's message, e.g. `rate limit: dropped 1234 lines of module edgeHub in the last 60 s
    /// (filters.rules[0] lets 200 lines/s through, bursts of 400)`.
    public var message: String {
        let lines = dropped == 1 ? "line" : "lines"
        let head = "rate limit: dropped \(dropped) \(lines) of \(subject) in the last \(seconds) s"
        if otherKeys > 0 { return head + " (more than filters.rateLimitMaxKeys at once, each over its rule's limit)" }
        let rate = limit.linesPerSecond.rounded() == limit.linesPerSecond
            ? String(Int64(limit.linesPerSecond)) : String(limit.linesPerSecond)
        return head + " (filters.rules[\(limit.rule)] lets \(rate) lines/s through, bursts of \(limit.burst))"
    }

    /// `Source` of summary records: EdgeLog itself.
    public static let source = "edgelog"
    /// `Level` of summary records: 4, warning.
    public static let level = 4

    /// Appends the summary as one record: `Source` `edgelog`, `ModuleId` the module (and `Unit` the unit),
    /// `Level` 4, `TimeGenerated` the report's time (`untilNanos` as Unix time), `Stream` `edgelog`, the message,
    /// and `Extra` `{"dropped": N, "seconds": S, "rule": i, "linesPerSecond": r, "burst": b, "source": "docker"}`.
    public func encode(host: HostIdentity, shape: RecordShape, maxBytes: Int, to out: inout [UInt8]) {
        let extra: JSONValue = .object([
            ("dropped", .int(Int64(dropped))),
            ("seconds", .int(seconds)),
            ("rule", .int(Int64(limit.rule))),
            ("linesPerSecond", .double(limit.linesPerSecond)),
            ("burst", .int(limit.burst)),
            ("source", .string(kind == .container ? "docker" : "journal")),
        ])
        let template = RecordTemplate(
            host: host, source: Self.source, moduleId: module, unit: unit, extra: extra, shape: shape)
        var time: [UInt8] = []
        Timestamp.appendRFC3339(
            seconds: Int64(untilNanos / 1_000_000_000), nanos: Int32(untilNanos % 1_000_000_000), fractionDigits: 6,
            to: &time)
        var text = message
        text.withUTF8 { message in
            time.withUnsafeBufferPointer { t in
                _ = template.encode(
                    time: t, stream: "edgelog", level: Self.level, message: message, maxBytes: maxBytes, to: &out)
            }
        }
    }
}
