/// Where a record comes from, for the `filters` rules: a container (matched by module name) or the journal
/// (matched by unit and identifier).
public enum RecordKind: Sendable, Hashable {
    case container
    case journal
}

/// Why a record was dropped; each has its counter.
public enum FilterDropReason: String, Sendable {
    /// Its `Level` is above the rule's `maxLevel`.
    case level
    /// Its message matched one of the rule's `drop` patterns.
    case drop
    /// Its message matched none of the rule's `keep` patterns.
    case keep
    /// Its module (or unit) was over the rule's `rateLimit`.
    case rateLimit
}

/// What to do with one record.
public enum FilterVerdict: Sendable, Equatable {
    /// Encode the message as it is.
    case keep
    /// Encode `RecordFilter.redacted` instead of the message.
    case keepRedacted
    case drop(FilterDropReason)
}

/// The rule that applies to one container or one journal (identifier, unit) pair, worked out once (`route`) and
/// kept by the source next to its record template.
public struct FilterRoute: Sendable, Equatable {
    /// Index in `filters.rules`; -1: no rule applies.
    let rule: Int
    let key: RateLimitKey?

    /// No rule: only redaction applies.
    public static let unfiltered = FilterRoute(rule: -1, key: nil)

    /// Whether a rule applies.
    public var isFiltered: Bool { rule >= 0 }
}

/// The `filters` and `redaction` sections, compiled once per pipeline, applied per record by a source:
///
///     let route = filter.route(kind: .container, module: name, unit: "")     // once per container
///     switch filter.evaluate(route, level: level, message: message) {        // per record
///     case .drop: break                                                       // counted in `tally`
///     case .keep: encode(message)
///     case .keepRedacted: filter.redacted.withUnsafeBufferPointer { encode($0) }
///     }
///     for summary in filter.dueSummaries() { summary.encode(…) }              // per chunk: rate limit reports
///     filter.flush(to: counters)                                              // per chunk
///
/// Within the first rule whose `match` fits: `maxLevel`, then `drop`, then `keep`, then the rate limit (only lines
/// the rule would keep take a token); then redaction of what is kept. One instance per source (it holds the rate
/// limiter's buckets and the matcher's scratch memory): not for sharing between tasks.
public final class RecordFilter {
    private final class Rule {
        let modules: [String]
        let units: [String]
        let identifiers: [String]
        let matchesEverything: Bool
        let maxLevel: Int
        let drop: [Regex]
        let keep: [Regex]
        let limit: RateLimiter.Limit?

        init(_ rule: FilterRule, index: Int) {
            modules = rule.match.modules
            units = rule.match.units.map(RecordFilter.unitPattern)
            identifiers = rule.match.identifiers
            matchesEverything = rule.match.matchesEverything
            maxLevel = Int(rule.maxLevel)
            drop = rule.drop.compactMap { try? Regex($0) }
            keep = rule.keep.compactMap { try? Regex($0) }
            limit = rule.rateLimit.map {
                RateLimiter.Limit(linesPerSecond: $0.linesPerSecond, burst: $0.burst, rule: index)
            }
        }
    }

    /// Counts since the last `flush`.
    public struct Tally: Sendable, Equatable {
        public var level = 0, drop = 0, keep = 0, rateLimited = 0, redacted = 0
        public init() {}
    }

    private let rules: [Rule]
    private let redactor: Redactor
    private var limiter: RateLimiter
    private let nowNanos: () -> UInt64
    private let scratch = RegexScratch()
    private var spare: [UInt8] = []
    private var routes: [RateLimitKey: FilterRoute] = [:]

    /// The redacted message after `evaluate` answered `.keepRedacted` (until the next call).
    public private(set) var redacted: [UInt8] = []
    public private(set) var tally = Tally()

    /// - Parameter nowNanos: the clock of the rate limits and of the summaries' `TimeGenerated`, in nanoseconds
    ///   since the Unix epoch (the wall clock by default; tests inject their own).
    public init(
        filters: FilterSettings, redaction: RedactionSettings, nowNanos: @escaping () -> UInt64 = RecordFilter.wallClockNanos
    ) {
        rules = filters.enabled ? filters.rules.enumerated().map { Rule($1, index: $0) } : []
        redactor = Redactor(redaction.effectiveRules)
        limiter = RateLimiter(
            maxKeys: Int(filters.rateLimitMaxKeys),
            reportIntervalNanos: UInt64(filters.rateLimitReportSeconds * 1e9))
        self.nowNanos = nowNanos
    }

    /// Nothing to do for any record (no rule, no redaction): a source may skip `evaluate` altogether.
    public var isPassThrough: Bool { rules.isEmpty && redactor.isEmpty }

    /// The rule for records of this container (`module`: its name) or this journal pair (`module`: the record's
    /// `ModuleId`, `unit`: `_SYSTEMD_UNIT`).
    public func route(kind: RecordKind, module: String, unit: String = "") -> FilterRoute {
        for (i, rule) in rules.enumerated() where Self.matches(rule, kind: kind, module: module, unit: unit) {
            let key = rule.limit == nil ? nil : RateLimitKey(kind: kind, module: module, unit: unit)
            return FilterRoute(rule: i, key: key)
        }
        return .unfiltered
    }

    /// Decides one record of `route`, and redacts its message if it is kept.
    public func evaluate(_ route: FilterRoute, level: Int, message: UnsafeBufferPointer<UInt8>) -> FilterVerdict {
        if route.rule >= 0 && route.rule < rules.count {
            if let reason = decide(rules[route.rule], key: route.key, level: level, message: message) {
                switch reason {
                case .level: tally.level += 1
                case .drop: tally.drop += 1
                case .keep: tally.keep += 1
                case .rateLimit: tally.rateLimited += 1
                }
                return .drop(reason)
            }
        }
        if redactor.isEmpty { return .keep }
        guard redactor.redact(message, scratch: scratch, out: &redacted, spare: &spare) > 0 else { return .keep }
        tally.redacted += 1
        return .keepRedacted
    }

    /// `route` and `evaluate` in one call, the route cached (up to `filters.rateLimitMaxKeys` of them).
    public func evaluate(
        kind: RecordKind, module: String, unit: String = "", level: Int, message: UnsafeBufferPointer<UInt8>
    ) -> FilterVerdict {
        guard !rules.isEmpty else { return evaluate(.unfiltered, level: level, message: message) }
        let key = RateLimitKey(kind: kind, module: module, unit: unit)
        let found: FilterRoute
        if let cached = routes[key] {
            found = cached
        } else {
            found = route(kind: kind, module: module, unit: unit)
            if routes.count >= limiter.maxKeys { routes.removeAll(keepingCapacity: true) }
            routes[key] = found
        }
        return evaluate(found, level: level, message: message)
    }

    private func decide(_ rule: Rule, key: RateLimitKey?, level: Int, message: UnsafeBufferPointer<UInt8>) -> FilterDropReason? {
        if level > rule.maxLevel { return .level }
        for regex in rule.drop where regex.matches(message, scratch: scratch) { return .drop }
        if !rule.keep.isEmpty && !rule.keep.contains(where: { $0.matches(message, scratch: scratch) }) { return .keep }
        if let limit = rule.limit, let key, !limiter.admit(key, limit, now: nowNanos()) { return .rateLimit }
        return nil
    }

    /// The rate limits' reports that are due (once per `filters.rateLimitReportSeconds`, for every module or unit
    /// that dropped lines); empty until then. Call it once per chunk, and when idle.
    public func dueSummaries() -> [RateLimitSummary] {
        limiter.dueSummaries(now: nowNanos())
    }

    /// The rate limits' reports of every module or unit that dropped lines since the last report, due or not: for a
    /// source that stops (its pipeline is replaced, or `run --once` ends), so no drop goes unreported.
    public func finalSummaries() -> [RateLimitSummary] {
        limiter.dueSummaries(now: nowNanos(), force: true)
    }

    /// Whether some rule has a rate limit (then a following source wakes once per `rateLimitReportSeconds` to
    /// emit the reports even when nothing is read).
    public var hasRateLimits: Bool { rules.contains { $0.limit != nil } }

    /// Adds the tally to the process counters and starts it again.
    public func flush(to counters: Counters) {
        guard tally != Tally() else { return }
        counters.add(.recordsFilteredLevel, tally.level)
        counters.add(.recordsFilteredDrop, tally.drop)
        counters.add(.recordsFilteredKeep, tally.keep)
        counters.add(.recordsRateLimited, tally.rateLimited)
        counters.add(.messagesRedacted, tally.redacted)
        tally = Tally()
    }

    private static func matches(_ rule: Rule, kind: RecordKind, module: String, unit: String) -> Bool {
        if rule.matchesEverything { return true }
        switch kind {
        case .container:
            return !rule.modules.isEmpty && Glob.selects(module, patterns: rule.modules)
        case .journal:
            return (!rule.units.isEmpty && Glob.selects(unit, patterns: rule.units))
                || (!rule.identifiers.isEmpty && Glob.selects(module, patterns: rule.identifiers))
        }
    }

    /// `journal.units`' convention: a unit named without a suffix (and without a glob) is a `.service`.
    static func unitPattern(_ pattern: String) -> String {
        let body = pattern.hasPrefix("!") ? String(pattern.dropFirst()) : pattern
        guard !body.isEmpty, !body.contains("."), !body.contains("*"), !body.contains("?") else { return pattern }
        return pattern + ".service"
    }

    /// The wall clock in nanoseconds since the Unix epoch.
    public static func wallClockNanos() -> UInt64 {
        let now = FileSystem.now()
        return UInt64(max(0, now.seconds)) &* 1_000_000_000 &+ UInt64(max(0, now.nanos))
    }
}
