import EdgeLogCore
import Testing

/// Token buckets driven by an injected clock: exact admissions, bounded keys, one summary per interval.
@Suite struct RateLimiterTests {
    static let second: UInt64 = 1_000_000_000
    let limit = RateLimiter.Limit(linesPerSecond: 10, burst: 5, rule: 2)
    let chatty = RateLimitKey(kind: .container, module: "chatty")

    @Test func aBurstThenTheRate() {
        var limiter = RateLimiter(maxKeys: 10, reportIntervalNanos: 60 * Self.second)
        let t0: UInt64 = 1_000 * Self.second
        // The bucket starts full: 5 lines at once pass, the 6th does not.
        let burst = (0..<8).map { _ in limiter.admit(chatty, limit, now: t0) }
        #expect(burst == [true, true, true, true, true, false, false, false])
        // 10 lines/s: after 0.35 s there are 3.5 tokens, so 3 lines.
        let later = (0..<5).map { _ in limiter.admit(chatty, limit, now: t0 + 350_000_000) }
        #expect(later == [true, true, true, false, false])
        // A long pause refills to the burst, not beyond.
        let rested = (0..<7).map { _ in limiter.admit(chatty, limit, now: t0 + 100 * Self.second) }
        #expect(rested.filter { $0 }.count == 5)
        // A clock that goes back does not add tokens.
        let back = limiter.admit(chatty, limit, now: t0)
        #expect(back == false)
    }

    @Test func keysAreIndependent() {
        var limiter = RateLimiter(maxKeys: 10, reportIntervalNanos: 60 * Self.second)
        let quiet = RateLimitKey(kind: .container, module: "quiet")
        let unit = RateLimitKey(kind: .journal, module: "chatty", unit: "chatty.service")
        for _ in 0..<5 { _ = limiter.admit(chatty, limit, now: 0) }
        let answers = [limiter.admit(chatty, limit, now: 0), limiter.admit(quiet, limit, now: 0), limiter.admit(unit, limit, now: 0)]
        #expect(answers == [false, true, true])  // the same name as a journal pair has its own bucket
        #expect(limiter.keys == 3)
    }

    /// A source that stops reports what its limits dropped since the last report, due or not.
    @Test func forcedSummariesReportBeforeTheIntervalAndThenStartAgain() {
        var limiter = RateLimiter(maxKeys: 10, reportIntervalNanos: 60 * Self.second)
        let t0: UInt64 = 7_000 * Self.second
        #expect(limiter.dueSummaries(now: t0, force: true).isEmpty)  // nothing admitted yet
        for _ in 0..<8 { _ = limiter.admit(chatty, limit, now: t0) }
        #expect(limiter.dueSummaries(now: t0 + 2 * Self.second).isEmpty)  // not due
        let forced = limiter.dueSummaries(now: t0 + 2 * Self.second, force: true)
        #expect(forced.map(\.dropped) == [3])
        #expect(forced.first?.seconds == 2)
        #expect(limiter.dueSummaries(now: t0 + 3 * Self.second, force: true).isEmpty)  // counts started again
    }

    @Test func oneSummaryPerKeyPerInterval() {
        var limiter = RateLimiter(maxKeys: 10, reportIntervalNanos: 60 * Self.second)
        let t0: UInt64 = 5_000 * Self.second
        for k in 0..<25 { _ = limiter.admit(chatty, limit, now: t0 + UInt64(k) * 7_000_000) }  // 25 lines in 0.17 s
        #expect(limiter.dueSummaries(now: t0 + 59 * Self.second).isEmpty)  // not yet due
        let summaries = limiter.dueSummaries(now: t0 + 60 * Self.second)
        // 5 from the burst and 1 refilled (the 16th line, 0.105 s after the first at 10/s) passed; 19 were dropped,
        // from the 6th line on.
        #expect(
            summaries == [
                RateLimitSummary(
                    kind: .container, module: "chatty", unit: "", dropped: 19, sinceNanos: t0 + 35_000_000,
                    untilNanos: t0 + 60 * Self.second, limit: limit)
            ])
        #expect(
            summaries.first?.message
                == "rate limit: dropped 19 lines of module chatty in the last 59 s (filters.rules[2] lets 10 lines/s through, bursts of 5)")
        // Counts start again; nothing dropped since, nothing to say at the next interval.
        #expect(limiter.dueSummaries(now: t0 + 61 * Self.second).isEmpty)
        #expect(limiter.dueSummaries(now: t0 + 200 * Self.second).isEmpty)
    }

    @Test func memoryIsBoundedAndForgottenDropsAreStillReported() {
        var limiter = RateLimiter(maxKeys: 3, reportIntervalNanos: 60 * Self.second)
        let tight = RateLimiter.Limit(linesPerSecond: 1, burst: 1, rule: 0)
        for m in 0..<1000 {
            let key = RateLimitKey(kind: .journal, module: "id\(m)", unit: "u\(m).service")
            let answers = [limiter.admit(key, tight, now: 0), limiter.admit(key, tight, now: 0)]
            #expect(answers == [true, false])  // one dropped line per key
            #expect(limiter.keys <= 3)
        }
        let summaries = limiter.dueSummaries(now: 60 * Self.second)
        // The 3 live buckets, the 3 forgotten ones the limiter keeps apart, and one sum of the other 994.
        #expect(summaries.count == 7)
        #expect(summaries.reduce(0) { $0 + $1.dropped } == 1000)
        let rest = summaries.last!
        #expect(rest.otherKeys == 994 && rest.dropped == 994)
        #expect(
            rest.message
                == "rate limit: dropped 994 lines of 994 more modules and units in the last 60 s (more than filters.rateLimitMaxKeys at once, each over its rule's limit)")
        #expect(summaries.contains { $0.message.contains("of journal unit u999.service (id999)") })
    }

    @Test func theLeastRecentlyUsedKeyIsForgotten() {
        var limiter = RateLimiter(maxKeys: 2, reportIntervalNanos: 60 * Self.second)
        let a = RateLimitKey(kind: .container, module: "a")
        let b = RateLimitKey(kind: .container, module: "b")
        let c = RateLimitKey(kind: .container, module: "c")
        let one = RateLimiter.Limit(linesPerSecond: 0.001, burst: 1, rule: 0)
        var answers: [Bool] = []
        answers.append(limiter.admit(a, one, now: 0))
        answers.append(limiter.admit(b, one, now: 0))
        answers.append(limiter.admit(a, one, now: 0))  // a used last: b is the oldest
        answers.append(limiter.admit(c, one, now: 0))  // forgets b
        answers.append(limiter.admit(a, one, now: 0))  // a kept its empty bucket
        answers.append(limiter.admit(b, one, now: 0))  // b starts over, full (forgetting c)
        #expect(answers == [true, true, false, true, false, true])
    }

    @Test func aSummaryIsOneRecord() throws {
        let summary = RateLimitSummary(
            kind: .journal, module: "dockerd", unit: "docker.service", dropped: 1234,
            sinceNanos: 1_795_000_000 * Self.second, untilNanos: 1_795_000_060 * Self.second + 500_000_000,
            limit: RateLimiter.Limit(linesPerSecond: 200, burst: 400, rule: 1))
        var out: [UInt8] = []
        summary.encode(
            host: HostIdentity(computer: "gw1"), shape: RecordShape(RecordSettings()), maxBytes: 4096, to: &out)
        #expect(
            String(decoding: out, as: UTF8.self)
                == #"{"TimeGenerated":"2026-11-18T11:07:40.500000Z","Computer":"gw1","Source":"edgelog","ModuleId":"dockerd","Stream":"edgelog","Level":4,"Message":"rate limit: dropped 1234 lines of journal unit docker.service (dockerd) in the last 60 s (filters.rules[1] lets 200 lines/s through, bursts of 400)","Unit":"docker.service","Extra":{"dropped":1234,"seconds":60,"rule":1,"linesPerSecond":200,"burst":400,"source":"journal"}}"#
        )
        _ = try JSONParser.parse(out)
    }
}
