/// What a rate limit counts by: one container module, or one journal (identifier, unit) pair. A reference, so a
/// `FilterRoute` holding one costs a single retain to copy; equal by content.
public final class RateLimitKey: Hashable, Sendable {
    public let kind: RecordKind
    public let module: String
    public let unit: String
    private let hash: Int

    public init(kind: RecordKind, module: String, unit: String = "") {
        self.kind = kind
        self.module = module
        self.unit = unit
        var h = Hasher()
        h.combine(kind)
        h.combine(module)
        h.combine(unit)
        hash = h.finalize()
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    public static func == (a: RateLimitKey, b: RateLimitKey) -> Bool {
        a.hash == b.hash && a.kind == b.kind && a.module == b.module && a.unit == b.unit
    }
}

/// Token buckets per key, refilled at each limit's rate up to its burst; a line takes one token or is dropped.
/// Memory is bounded: at most `maxKeys` buckets, the least recently used forgotten first (its drops still
/// reported). Every `reportIntervalNanos` it hands out one `RateLimitSummary` per key that dropped lines.
///
/// A value owned by one source (one task or thread), driven by the clock readings passed in.
public struct RateLimiter: Sendable {
    public struct Limit: Sendable, Equatable {
        public var linesPerSecond: Double
        public var burst: Int64
        /// The rule it comes from (`filters.rules[rule]`), named in the summaries.
        public var rule: Int

        public init(linesPerSecond: Double, burst: Int64, rule: Int) {
            self.linesPerSecond = linesPerSecond
            self.burst = burst
            self.rule = rule
        }
    }

    private struct Bucket {
        var key: RateLimitKey
        var limit: Limit
        var tokens: Double
        var refilledAt: UInt64
        var lastUsed: UInt64
        var dropped: Int
        var droppedSince: UInt64
    }

    public let maxKeys: Int
    public let reportIntervalNanos: UInt64
    private var index: [RateLimitKey: Int] = [:]
    private var buckets: [Bucket] = []
    private var use: UInt64 = 0
    /// Drops of forgotten buckets, reported with the next summaries (at most `maxKeys` of them; more are added up).
    private var forgotten: [RateLimitSummary] = []
    private var forgottenOverflow = RateLimitSummary(
        kind: .container, module: "", unit: "", dropped: 0, sinceNanos: 0, untilNanos: 0,
        limit: Limit(linesPerSecond: 0, burst: 0, rule: -1), otherKeys: 0)
    private var nextReport: UInt64?

    public init(maxKeys: Int, reportIntervalNanos: UInt64) {
        self.maxKeys = max(1, maxKeys)
        self.reportIntervalNanos = max(1, reportIntervalNanos)
    }

    /// Buckets held now.
    public var keys: Int { buckets.count }

    /// Takes one token from `key`'s bucket at `now` (nanoseconds, any epoch, not going backwards by much): true
    /// if the line goes through, false if it is dropped (and counted for the summary).
    public mutating func admit(_ key: RateLimitKey, _ limit: Limit, now: UInt64) -> Bool {
        if nextReport == nil { nextReport = now &+ reportIntervalNanos }
        use &+= 1
        let i: Int
        if let found = index[key] {
            i = found
            if buckets[i].limit != limit {  // a changed rule: start full under the new limit
                buckets[i].limit = limit
                buckets[i].tokens = Double(limit.burst)
            }
        } else {
            i = insert(key, limit, now: now)
        }
        var b = buckets[i]
        if now > b.refilledAt {
            let elapsed = Double(now - b.refilledAt) / 1e9
            b.tokens = min(Double(b.limit.burst), b.tokens + elapsed * b.limit.linesPerSecond)
        }
        b.refilledAt = max(b.refilledAt, now)
        b.lastUsed = use
        let admitted = b.tokens >= 1
        if admitted {
            b.tokens -= 1
        } else {
            if b.dropped == 0 { b.droppedSince = now }
            b.dropped += 1
        }
        buckets[i] = b
        return admitted
    }

    /// Once per interval (the first call at or after it is due): one summary per key that dropped lines since the
    /// last report, then the counts start again. Empty otherwise. `force`: report now whether due or not (a source
    /// that stops, so the drops of its last interval are not lost from view).
    public mutating func dueSummaries(now: UInt64, force: Bool = false) -> [RateLimitSummary] {
        guard let due = nextReport, force || now >= due else { return [] }
        nextReport = now &+ reportIntervalNanos
        var summaries = forgotten
        forgotten.removeAll()
        for i in buckets.indices where buckets[i].dropped > 0 {
            let b = buckets[i]
            summaries.append(
                RateLimitSummary(
                    kind: b.key.kind, module: b.key.module, unit: b.key.unit, dropped: b.dropped,
                    sinceNanos: b.droppedSince, untilNanos: now, limit: b.limit))
            buckets[i].dropped = 0
        }
        if forgottenOverflow.dropped > 0 {
            var overflow = forgottenOverflow
            overflow.untilNanos = now
            summaries.append(overflow)
            forgottenOverflow.dropped = 0
            forgottenOverflow.otherKeys = 0
        }
        return summaries
    }

    /// Adds a full bucket for `key`, forgetting the least recently used one if the limiter is full.
    private mutating func insert(_ key: RateLimitKey, _ limit: Limit, now: UInt64) -> Int {
        let bucket = Bucket(
            key: key, limit: limit, tokens: Double(limit.burst), refilledAt: now, lastUsed: use, dropped: 0,
            droppedSince: now)
        guard buckets.count >= maxKeys else {
            buckets.append(bucket)
            index[key] = buckets.count - 1
            return buckets.count - 1
        }
        var oldest = 0
        for i in buckets.indices where buckets[i].lastUsed < buckets[oldest].lastUsed { oldest = i }
        let old = buckets[oldest]
        if old.dropped > 0 {
            let summary = RateLimitSummary(
                kind: old.key.kind, module: old.key.module, unit: old.key.unit, dropped: old.dropped,
                sinceNanos: old.droppedSince, untilNanos: now, limit: old.limit)
            if forgotten.count < maxKeys {
                forgotten.append(summary)
            } else {
                if forgottenOverflow.dropped == 0 { forgottenOverflow.sinceNanos = old.droppedSince }
                forgottenOverflow.dropped += old.dropped
                forgottenOverflow.otherKeys += 1
            }
        }
        index[old.key] = nil
        buckets[oldest] = bucket
        index[key] = oldest
        return oldest
    }
}
