@testable import EdgeLogCore
import Testing

/// The sink driver's rules, without a spool, a network or a clock: events in, actions out.
@Suite struct DeliveryStateMachineTests {
    func entry(_ sequence: UInt64, records: Int = 10) -> SpoolEntry {
        SpoolEntry(sequence: sequence, createdMillis: 1_000, records: records, bytes: 100, format: .ndjson)
    }

    func payload(_ sequence: UInt64) -> [UInt8] { [UInt8(truncatingIfNeeded: sequence)] }

    /// Bytes that look like a gzip member whose trailer declares `plain` uncompressed bytes (`count` long).
    func gzipLike(_ sequence: UInt64, plain: Int, count: Int = 40) -> [UInt8] {
        var b = [UInt8](repeating: UInt8(truncatingIfNeeded: sequence), count: count)
        b[0] = 0x1F
        b[1] = 0x8B
        let n = UInt32(plain)
        b[count - 4] = UInt8(n & 0xFF)
        b[count - 3] = UInt8((n >> 8) & 0xFF)
        b[count - 2] = UInt8((n >> 16) & 0xFF)
        b[count - 1] = UInt8(n >> 24)
        return b
    }

    func batch(_ sequence: UInt64, _ payload: [UInt8]) -> SinkBatch {
        SinkBatch(sequence: sequence, payload: payload, records: 10, format: .ndjson)
    }

    func machine(
        _ limit: DeliveryStateMachine.Limit = .follow, concurrency: Int = 2, idempotent: Bool = false,
        backoff: Backoff = Backoff(initial: .seconds(4), maximum: .seconds(4)), mergeBytes: Int = 0,
        maxBytesPerSecond: Int = 0, startJitter: Duration = .zero, seed: UInt64 = 1
    ) -> DeliveryStateMachine {
        DeliveryStateMachine(
            limit: limit, concurrency: concurrency, idempotent: idempotent, backoff: backoff, mergeBytes: mergeBytes,
            maxBytesPerSecond: maxBytesPerSecond, startJitter: startJitter, random: SeededRandom(seed: seed))
    }

    /// Reads and sends `sequences` (the window's next batches).
    func fill(_ m: inout DeliveryStateMachine, _ sequences: [UInt64], now: Duration = .zero) {
        var previous: UInt64?
        for s in sequences {
            #expect(m.nextAction(now: now) == .read(after: previous))
            m.read(.batch(entry(s), payload: payload(s)), now: now)
            #expect(m.nextAction(now: now) == .send(batch(s, payload(s))))
            previous = s
        }
    }

    /// Answers the head call `sequence` delivered and takes the acknowledgements and the settle that follow.
    func deliver(_ m: inout DeliveryStateMachine, _ sequence: UInt64, now: Duration) {
        m.result(sequence: sequence, .delivered)
        while true {
            switch m.nextAction(now: now) {
            case .acknowledge: continue
            case .settle:
                m.settled(true)
                return
            default:
                Issue.record("expected acknowledgements and a settle")
                return
            }
        }
    }

    let everything: (UInt64) -> Bool = { _ in true }

    @Test func fillsTheWindowInSequenceOrderThenWaits() {
        var m = machine()
        fill(&m, [1, 2])
        #expect(m.nextAction(now: .zero) == .waitForResult)
    }

    @Test func resultsAreActedOnInSequenceOrder() {
        var m = machine()
        fill(&m, [1, 2])
        m.result(sequence: 2, .delivered)
        // The second is confirmed, the first is not: nothing is acknowledged and nothing new is read.
        #expect(m.nextAction(now: .zero) == .waitForResult)
        m.result(sequence: 1, .delivered)
        #expect(m.nextAction(now: .zero) == .acknowledge(entry(1), recovered: false))
        // Not idempotent: the checkpoint file is written before the next acknowledgement.
        #expect(m.nextAction(now: .zero) == .settle([entry(1)]))
        m.settled(true)
        #expect(m.nextAction(now: .zero) == .acknowledge(entry(2), recovered: false))
        #expect(m.nextAction(now: .zero) == .settle([entry(2)]))
        m.settled(true)
        #expect(m.nextAction(now: .zero) == .read(after: nil))
    }

    @Test func anIdempotentSinkSettlesEverySixteenDeliveries() {
        var m = machine(concurrency: 1, idempotent: true)
        for s in UInt64(1)...16 {
            #expect(m.nextAction(now: .zero) == .read(after: nil))
            m.read(.batch(entry(s), payload: payload(s)), now: .zero)
            _ = m.nextAction(now: .zero)  // send
            m.result(sequence: s, .delivered)
            #expect(m.nextAction(now: .zero) == .acknowledge(entry(s), recovered: false))
        }
        #expect(m.nextAction(now: .zero) == .settle((UInt64(1)...16).map { entry($0) }))
    }

    @Test func aRetryableFailureNarrowsTheWindowAndResendsTheHeadAfterRetryAfterAndItsJitter() {
        var m = machine()
        fill(&m, [1, 2])
        m.result(sequence: 1, .retryable(reason: "503", retryAfter: .seconds(7)))
        guard case .retry(let retry) = m.nextAction(now: .seconds(1)) else {
            Issue.record("no retry")
            return
        }
        #expect(retry.entry == entry(1) && retry.attempt == 1 && retry.retryAfter == .seconds(7) && !retry.throttled)
        // Never sooner than Retry-After; at most half as long again on top (at least 2 s).
        #expect(retry.delay >= .seconds(7) && retry.delay <= .milliseconds(10_500))
        #expect(m.width == 1)
        let wake = .seconds(1) + retry.delay
        #expect(m.nextAction(now: .seconds(1)) == .sleep(until: wake))
        // Woken before its time (nothing to do yet): it sleeps again.
        m.woke(now: .seconds(5), spooled: everything)
        #expect(m.nextAction(now: .seconds(5)) == .sleep(until: wake))
        m.woke(now: wake, spooled: everything)
        #expect(m.nextAction(now: wake) == .send(batch(1, payload(1))))
        // The window is one wide: batch 2 is still in flight, nothing new is read.
        #expect(m.nextAction(now: wake) == .waitForResult)
        m.result(sequence: 1, .delivered)
        #expect(m.nextAction(now: wake) == .acknowledge(entry(1), recovered: true))
        #expect(m.width == 2)
        #expect(m.attempts == 0)
    }

    /// The retry delays of 200 devices (seeds 1...200) whose first call got `result` at the same moment.
    func retryDelays(_ result: DeliveryResult) -> [Duration] {
        (UInt64(1)...200).compactMap { seed in
            var m = machine(concurrency: 1, seed: seed)
            fill(&m, [1])
            m.result(sequence: 1, result)
            guard case .retry(let retry) = m.nextAction(now: .zero) else {
                Issue.record("no retry")
                return nil
            }
            return retry.delay
        }
    }

    @Test func a429sRetryAfterJitterSpreadsAFleetToldTheSameInstantOverTheBudgetWindow() {
        // 200 devices told "Retry-After: 10" by a 429 at the same moment come back over the following minute (the
        // window a rule's budget is counted over), none sooner than told.
        let delays = retryDelays(.throttled(reason: "429", retryAfter: .seconds(10)))
        #expect(delays.allSatisfy { $0 >= .seconds(10) && $0 <= .seconds(70) })
        // Every 10 s of the minute gets some (uniform: about 33 each), none more than a quarter of the fleet.
        let byTenSeconds = Dictionary(grouping: delays) { ($0.components.seconds - 10) / 10 }
        #expect(Set(byTenSeconds.keys) == Set(Int64(0)...5))
        #expect(byTenSeconds.values.allSatisfy { $0.count >= 15 && $0.count <= 50 })
    }

    @Test func otherRetryAfterJitterIsHalfTheWaitAtLeastTwoSeconds() {
        // A 503 with "Retry-After: 10": back within 5 s of the time told, spread over those seconds.
        let delays = retryDelays(.retryable(reason: "503", retryAfter: .seconds(10)))
        #expect(delays.allSatisfy { $0 >= .seconds(10) && $0 <= .seconds(15) })
        let bySecond = Dictionary(grouping: delays) { $0.components.seconds }
        #expect(bySecond.count >= 5)
        #expect(bySecond.values.allSatisfy { $0.count < 200 / 3 })
    }

    @Test func withoutRetryAfterTheBackoffHasFullJitterAndGrows() {
        var m = machine(concurrency: 1, backoff: Backoff(initial: .seconds(2), maximum: .seconds(60)))
        fill(&m, [1])
        var now = Duration.zero
        for attempt in 1...4 {
            m.result(sequence: 1, .retryable(reason: "down", retryAfter: nil))
            guard case .retry(let retry) = m.nextAction(now: now) else {
                Issue.record("no retry")
                return
            }
            #expect(retry.attempt == attempt)
            // A random point anywhere from zero to 2 s × 2^(attempt-1).
            #expect(retry.delay >= .zero && retry.delay <= .seconds(2 << (attempt - 1)))
            #expect(m.nextAction(now: now) == .sleep(until: now + retry.delay))
            now += retry.delay
            m.woke(now: now, spooled: everything)
            _ = m.nextAction(now: now)  // send again
        }
    }

    @Test func backoffDelaysCoverTheWholeRangeUpToTheCeiling() {
        // Full jitter: over many draws the delays reach both ends of 0...ceiling, not only its upper half.
        var g = SeededRandom(seed: 42)
        var delays: [Duration] = []
        for _ in 0..<400 {
            var b = Backoff(initial: .seconds(8), maximum: .seconds(300))
            delays.append(b.next(using: &g))
        }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .seconds(8) })
        #expect(delays.min()! < .seconds(1))
        #expect(delays.max()! > .seconds(7))
        #expect(delays.filter { $0 < .seconds(4) }.count > 120)
        var b = Backoff(initial: .seconds(1), maximum: .seconds(300))
        for _ in 0..<12 { _ = b.next(using: &g) }
        #expect(b.ceiling == .seconds(300))
    }

    @Test func aFollowingRunWaitsItsStartJitterBeforeTheFirstCall() {
        var starts: Set<Duration> = []
        for seed in UInt64(1)...50 {
            var m = machine(startJitter: .seconds(10), seed: seed)
            #expect(m.startAt >= .zero && m.startAt <= .seconds(10))
            starts.insert(m.startAt)
            // The spool is read at once; the call waits.
            #expect(m.nextAction(now: .zero) == .read(after: nil))
            m.read(.batch(entry(1), payload: payload(1)), now: .zero)
            if m.startAt > .zero {
                #expect(m.nextAction(now: .zero) == .sleep(until: m.startAt))
                m.woke(now: m.startAt, spooled: everything)
            }
            #expect(m.nextAction(now: m.startAt) == .send(batch(1, payload(1))))
        }
        // A fleet restarted together does not send together.
        #expect(starts.count > 40)
    }

    @Test func a429HalvesTheWindowAndTheRateAndTheRetryWaitsForThePace() {
        var m = machine(concurrency: 4)
        // Four calls a second apart: the device sends at 1 call/s.
        var previous: UInt64?
        for s in UInt64(1)...4 {
            let now = Duration.seconds(Int64(s) - 1)
            #expect(m.nextAction(now: now) == .read(after: previous))
            m.read(.batch(entry(s), payload: payload(s)), now: now)
            #expect(m.nextAction(now: now) == .send(batch(s, payload(s))))
            previous = s
        }
        #expect(m.pacing.interval == nil)
        m.result(sequence: 1, .throttled(reason: "429", retryAfter: .seconds(1)))
        guard case .retry(let retry) = m.nextAction(now: .seconds(4)) else {
            Issue.record("no retry")
            return
        }
        #expect(retry.throttled)
        // Half of 4 calls at once; half of 1 call/s: at least 2 s between calls, counted from the last start.
        #expect(m.width == 2)
        #expect(m.pacing.interval == .seconds(2))
        // Retry-After 1 s plus up to 60 s of jitter; the pace (3 s + 2 s) asks no more.
        #expect(retry.delay >= .seconds(1) && retry.delay <= .seconds(61))
        #expect(m.nextAction(now: .seconds(4)) == .sleep(until: .seconds(4) + retry.delay))
        m.woke(now: .seconds(4) + retry.delay, spooled: everything)
        #expect(m.nextAction(now: .seconds(4) + retry.delay) == .send(batch(1, payload(1))))
    }

    @Test func aFreshThrottleHalvesAgainAndSuccessesRecoverLinearlyInTime() {
        var p = DeliveryPacing(concurrency: 2)
        p.sent(at: .zero)
        p.sent(at: .seconds(1))
        let first = p.throttled(sentAt: .seconds(1), now: .seconds(2))
        #expect(first)
        #expect(p.rate == 0.5)
        #expect(p.width == 1)
        // The same episode: a call sent before the decrease.
        let same = p.throttled(sentAt: .seconds(1), now: .seconds(3))
        #expect(!same)
        #expect(p.rate == 0.5)
        // A call sent after it is throttled too: halve again.
        p.sent(at: .seconds(4))
        let fresh = p.throttled(sentAt: .seconds(4), now: .seconds(5))
        #expect(fresh)
        #expect(p.rate == 0.25)
        #expect(p.nextSend == .seconds(8))
        // Down to one call every 5 minutes at the slowest.
        for i in 0..<20 {
            p.sent(at: .seconds(10 + Int64(i)))
            p.throttled(sentAt: .seconds(10 + Int64(i)), now: .seconds(10 + Int64(i)))
        }
        #expect(p.rate == DeliveryPacing.slowestRate)
        #expect(p.interval == .seconds(300))
        // Recovery: the window reopens one call per delivery, the rate grows with the time since the last change.
        p.delivered(now: .seconds(29 + 1000))
        #expect(p.width == 2)
        #expect(abs(p.rate! - (DeliveryPacing.slowestRate + 0.01)) < 1e-12)
        p.delivered(now: .seconds(29 + 2000))
        #expect(abs(p.rate! - (DeliveryPacing.slowestRate + 0.02)) < 1e-12)
        // Long enough without a 429 and the device is no longer paced.
        p.delivered(now: .seconds(29 + 2000 + 1_000_000))
        #expect(p.rate == nil)
        #expect(p.interval == nil && p.nextSend == nil)
    }

    @Test func devicesSharingABudgetConvergeToEqualRates() {
        // Two devices, one at 40 times the other's rate, are refused the same share of their calls (10 %) and
        // gain the same per second: the gap closes (AIMD).
        var fast = DeliveryPacing(concurrency: 1)
        var slow = DeliveryPacing(concurrency: 1)
        fast.sent(at: .zero)
        fast.sent(at: .seconds(1))
        _ = fast.throttled(sentAt: .seconds(1), now: .seconds(1))  // 0.5 calls/s
        slow.sent(at: .zero)
        slow.sent(at: .seconds(40))
        _ = slow.throttled(sentAt: .seconds(40), now: .seconds(40))  // 0.0125 calls/s
        var g = SeededRandom(seed: 3)
        var now = Duration.seconds(40)
        var credit = (fast: 0.0, slow: 0.0)
        for _ in 0..<200_000 {
            now += .milliseconds(100)
            // Each call is refused with the same probability, 10 %.
            credit.fast += fast.rate! * 0.1
            credit.slow += slow.rate! * 0.1
            while credit.fast >= 1 {
                credit.fast -= 1
                fast.sent(at: now)
                if Double.random(in: 0..<1, using: &g) < 0.1 { _ = fast.throttled(sentAt: now, now: now) } else { fast.delivered(now: now) }
            }
            while credit.slow >= 1 {
                credit.slow -= 1
                slow.sent(at: now)
                if Double.random(in: 0..<1, using: &g) < 0.1 { _ = slow.throttled(sentAt: now, now: now) } else { slow.delivered(now: now) }
            }
        }
        let ratio = fast.rate! / slow.rate!
        #expect(ratio < 3 && ratio > 1 / 3, "\(fast.rate!) vs \(slow.rate!)")
    }

    @Test func otherFailuresNarrowTheWindowButKeepThePace() {
        var p = DeliveryPacing(concurrency: 4)
        p.failed()
        #expect(p.width == 1 && p.rate == nil)
        p.delivered(now: .seconds(1))
        p.delivered(now: .seconds(2))
        #expect(p.width == 3)
    }

    @Test func whilePacedCallsStartNoSoonerThanTheInterval() {
        var m = machine(concurrency: 1)
        fill(&m, [1])
        m.result(sequence: 1, .throttled(reason: "429", retryAfter: nil))
        guard case .retry = m.nextAction(now: .zero) else {
            Issue.record("no retry")
            return
        }
        let interval = m.pacing.interval!
        // One call is too few to measure a rate: the first slowdown is to 1 call/s.
        #expect(interval == .seconds(1))
        guard case .sleep(let wake) = m.nextAction(now: .zero) else {
            Issue.record("no sleep")
            return
        }
        #expect(wake >= interval)
        m.woke(now: wake, spooled: everything)
        #expect(m.nextAction(now: wake) == .send(batch(1, payload(1))))
        deliver(&m, 1, now: wake)
        // The next batch is read at once but sent one interval after the last start.
        #expect(m.nextAction(now: wake) == .read(after: nil))
        m.read(.batch(entry(2), payload: payload(2)), now: wake)
        let next = wake + m.pacing.interval!
        #expect(m.nextAction(now: wake) == .sleep(until: next))
        m.woke(now: next, spooled: everything)
        // Awake: the spool is looked at again (more may have come meanwhile), then the call goes.
        #expect(m.nextAction(now: next) == .send(batch(2, payload(2))))
    }

    /// A device refused once (429 at 0 s), its call then delivered at `delivered`: the machine, mergeBytes 1000.
    func congested(
        delivered: Duration, _ limit: DeliveryStateMachine.Limit = .follow, seed: UInt64 = 1
    ) -> DeliveryStateMachine {
        var m = machine(limit, concurrency: 1, mergeBytes: 1000, seed: seed)
        let first = gzipLike(1, plain: 300)
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.batch(entry(1), payload: first), now: .zero)
        #expect(m.nextAction(now: .zero) == .read(after: 1))
        m.read(.none, now: .zero)
        #expect(m.nextAction(now: .zero) == .send(batch(1, first)))
        m.result(sequence: 1, .throttled(reason: "429", retryAfter: .seconds(1)))
        guard case .retry(let retry) = m.nextAction(now: .zero) else {
            Issue.record("no retry")
            return m
        }
        m.woke(now: retry.delay, spooled: everything)
        #expect(m.nextAction(now: retry.delay) == .read(after: 1))
        m.read(.none, now: retry.delay)
        #expect(m.nextAction(now: retry.delay) == .send(batch(1, first)))
        deliver(&m, 1, now: delivered)
        return m
    }

    @Test func whileCongestedANewCallWaitsUntilItIsFull() {
        let t = Duration.seconds(100)
        var m = congested(delivered: t)
        let p = (UInt64(2)...4).map { gzipLike($0, plain: 400) }
        #expect(m.nextAction(now: t) == .read(after: nil))
        m.read(.batch(entry(2), payload: p[0]), now: t)
        #expect(m.nextAction(now: t) == .read(after: 2))
        m.read(.none, now: t)
        // 400 bytes of 1000, 2 minutes not yet passed since the last delivered call: look again in 10 s.
        #expect(m.nextAction(now: t) == .sleep(until: t + .seconds(10)))
        m.woke(now: t + .seconds(10), spooled: everything)
        #expect(m.nextAction(now: t + .seconds(10)) == .read(after: 2))
        m.read(.batch(entry(3), payload: p[1]), now: t + .seconds(10))
        #expect(m.nextAction(now: t + .seconds(10)) == .read(after: 3))
        m.read(.none, now: t + .seconds(10))
        #expect(m.nextAction(now: t + .seconds(10)) == .sleep(until: t + .seconds(20)))
        m.woke(now: t + .seconds(20), spooled: everything)
        #expect(m.nextAction(now: t + .seconds(20)) == .read(after: 3))
        // The fourth does not fit (1198 bytes): the call of two is full and goes at once.
        m.read(.batch(entry(4), payload: p[2]), now: t + .seconds(20))
        #expect(m.nextAction(now: t + .seconds(20)) == .merge([batch(2, p[0]), batch(3, p[1])]))
    }

    @Test func whileCongestedACallThatIsNotFullGoesTwoMinutesAfterTheLastDelivery() {
        let t = Duration.seconds(100)
        var m = congested(delivered: t)
        let small = gzipLike(2, plain: 300)
        #expect(m.nextAction(now: t) == .read(after: nil))
        m.read(.batch(entry(2), payload: small), now: t)
        var now = t
        var sleeps = 0
        while true {
            #expect(m.nextAction(now: now) == .read(after: 2))
            m.read(.none, now: now)
            let action = m.nextAction(now: now)
            guard case .sleep(let wake) = action else {
                #expect(action == .send(batch(2, small)))
                break
            }
            #expect(wake <= t + m.pacing.fillHold)
            sleeps += 1
            now = wake
            m.woke(now: now, spooled: everything)
        }
        #expect(now == t + m.pacing.fillHold)
        #expect(sleeps == 12)
    }

    @Test func aDrainDoesNotWaitForFullCalls() {
        // `run --once` after a 429: nothing more will be spooled, so the small call goes at once.
        let t = Duration.seconds(100)
        var m = congested(delivered: t, .drain(maxAttempts: 5, deadline: nil))
        let small = gzipLike(2, plain: 300)
        #expect(m.nextAction(now: t) == .read(after: nil))
        m.read(.batch(entry(2), payload: small), now: t)
        #expect(m.nextAction(now: t) == .read(after: 2))
        m.read(.none, now: t)
        #expect(m.pacing.fillUntil(now: t) == t + m.pacing.fillHold)
        #expect(m.nextAction(now: t) == .send(batch(2, small)))
    }

    @Test func tenMinutesAfterTheLast429CallsNoLongerWaitToBeFull() {
        var p = DeliveryPacing(concurrency: 1)
        p.sent(at: .zero)
        p.throttled(sentAt: .zero, now: .seconds(1))
        // Not delivered yet in this run: nothing to wait for.
        #expect(p.fillUntil(now: .seconds(2)) == nil)
        p.delivered(now: .seconds(10))
        #expect(p.fillUntil(now: .seconds(10)) == .seconds(130))
        #expect(p.fillUntil(now: .seconds(130)) == nil)
        // Another 429 (of the same episode: it does not slow the device down again) keeps it congested.
        p.throttled(sentAt: .zero, now: .seconds(500))
        p.delivered(now: .seconds(550))
        #expect(p.fillUntil(now: .seconds(600)) == .seconds(670))
        p.delivered(now: .seconds(1_050))
        // 600 s after the last 429 it is over.
        #expect(p.fillUntil(now: .seconds(1_099)) == .seconds(1_170))
        #expect(p.fillUntil(now: .seconds(1_100)) == nil)
    }

    @Test func aBacklogGoesOutMergedUpToTheLimitInOrder() {
        var m = machine(concurrency: 1, mergeBytes: 1000)
        let p = (UInt64(1)...4).map { gzipLike($0, plain: 300) }
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.batch(entry(1), payload: p[0]), now: .zero)
        // Open for more: read what is spooled behind it.
        #expect(m.nextAction(now: .zero) == .read(after: 1))
        m.read(.batch(entry(2), payload: p[1]), now: .zero)
        #expect(m.nextAction(now: .zero) == .read(after: 2))
        m.read(.batch(entry(3), payload: p[2]), now: .zero)
        #expect(m.nextAction(now: .zero) == .read(after: 3))
        // 300 × 4 − 3 joins would be 1197 bytes: the fourth starts the next call.
        m.read(.batch(entry(4), payload: p[3]), now: .zero)
        #expect(m.nextAction(now: .zero) == .merge([batch(1, p[0]), batch(2, p[1]), batch(3, p[2])]))
        let merged = SinkBatch(sequence: 1, payload: [9, 9, 9], records: 30, format: .jsonArray)
        m.merged(first: 1, into: merged)
        #expect(m.nextAction(now: .zero) == .send(merged))
        // The next call grows while this one is in flight.
        #expect(m.nextAction(now: .zero) == .read(after: 4))
        m.read(.none, now: .zero)
        #expect(m.nextAction(now: .zero) == .waitForResult)
        m.result(sequence: 1, .delivered)
        // Every batch of the call is acknowledged in order, then the checkpoint file is written once.
        #expect(m.nextAction(now: .zero) == .acknowledge(entry(1), recovered: false))
        #expect(m.nextAction(now: .zero) == .acknowledge(entry(2), recovered: false))
        #expect(m.nextAction(now: .zero) == .acknowledge(entry(3), recovered: false))
        #expect(m.nextAction(now: .zero) == .settle([entry(1), entry(2), entry(3)]))
        m.settled(true)
        // The fourth is open for what came after it.
        #expect(m.nextAction(now: .zero) == .read(after: 4))
        m.read(.none, now: .zero)
        #expect(m.nextAction(now: .zero) == .send(batch(4, p[3])))
    }

    @Test func aBatchAloneIsSentAsItIsAndUnknownSizesAreNotMerged() {
        var m = machine(concurrency: 1, mergeBytes: 1000)
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        // Not a gzip member: its size is unknown, it goes alone.
        m.read(.batch(entry(1), payload: payload(1)), now: .zero)
        #expect(m.nextAction(now: .zero) == .send(batch(1, payload(1))))
    }

    @Test func batchesThatCannotBeMergedGoOneByOne() {
        var m = machine(concurrency: 1, mergeBytes: 1000)
        let p = (UInt64(1)...2).map { gzipLike($0, plain: 100) }
        _ = m.nextAction(now: .zero)
        m.read(.batch(entry(1), payload: p[0]), now: .zero)
        _ = m.nextAction(now: .zero)
        m.read(.batch(entry(2), payload: p[1]), now: .zero)
        _ = m.nextAction(now: .zero)
        m.read(.none, now: .zero)
        #expect(m.nextAction(now: .zero) == .merge([batch(1, p[0]), batch(2, p[1])]))
        m.merged(first: 1, into: nil)
        #expect(m.nextAction(now: .zero) == .send(batch(1, p[0])))
        #expect(m.nextAction(now: .zero) == .waitForResult)
        deliver(&m, 1, now: .zero)
        #expect(m.nextAction(now: .zero) == .send(batch(2, p[1])))
    }

    @Test func aMergedCallRefusedForGoodIsSplitSoOnlyTheBadBatchIsDeadLettered() {
        var m = machine(concurrency: 1, mergeBytes: 1000)
        let p = (UInt64(1)...3).map { gzipLike($0, plain: 100) }
        _ = m.nextAction(now: .zero)
        for s in UInt64(1)...3 {
            m.read(.batch(entry(s), payload: p[Int(s) - 1]), now: .zero)
            _ = m.nextAction(now: .zero)
        }
        m.read(.none, now: .zero)
        guard case .merge = m.nextAction(now: .zero) else {
            Issue.record("no merge")
            return
        }
        let merged = SinkBatch(sequence: 1, payload: [1], records: 30, format: .jsonArray)
        m.merged(first: 1, into: merged)
        #expect(m.nextAction(now: .zero) == .send(merged))
        m.result(sequence: 1, .permanent(reason: "400", detail: "bad record"))
        #expect(m.nextAction(now: .zero) == .split(first: 1, batches: 3, reason: "400"))
        #expect(m.nextAction(now: .zero) == .send(batch(1, p[0])))
        deliver(&m, 1, now: .zero)
        #expect(m.nextAction(now: .zero) == .send(batch(2, p[1])))
        m.result(sequence: 2, .permanent(reason: "400", detail: "bad record"))
        #expect(m.nextAction(now: .zero) == .deadLetter(entry(2), payload: p[1], reason: "400", detail: "bad record"))
        m.deadLettered(true, now: .zero)
        #expect(m.nextAction(now: .zero) == .settle([entry(2)]))
        m.settled(true)
        #expect(m.nextAction(now: .zero) == .send(batch(3, p[2])))
    }

    @Test func aRetriedMergedCallForgetsWhatTheSpoolDroppedAndIsBuiltAgain() {
        var m = machine(concurrency: 1, mergeBytes: 1000)
        let p = (UInt64(1)...3).map { gzipLike($0, plain: 100) }
        _ = m.nextAction(now: .zero)
        for s in UInt64(1)...3 {
            m.read(.batch(entry(s), payload: p[Int(s) - 1]), now: .zero)
            _ = m.nextAction(now: .zero)
        }
        m.read(.none, now: .zero)
        _ = m.nextAction(now: .zero)
        m.merged(first: 1, into: SinkBatch(sequence: 1, payload: [1], records: 30, format: .jsonArray))
        _ = m.nextAction(now: .zero)  // send
        m.result(sequence: 1, .retryable(reason: "down", retryAfter: .seconds(1)))
        guard case .retry(let retry) = m.nextAction(now: .zero) else {
            Issue.record("no retry")
            return
        }
        #expect(retry.batches == 3)
        _ = m.nextAction(now: .zero)  // sleep
        // The budget dropped batch 1 meanwhile.
        m.woke(now: retry.delay, spooled: { $0 != 1 })
        #expect(m.flights.map(\.sequences) == [[2, 3]])
        // Sent again alone, it first takes what was spooled behind it meanwhile: batch 4.
        #expect(m.nextAction(now: retry.delay) == .read(after: 3))
        let fourth = gzipLike(4, plain: 100)
        m.read(.batch(entry(4), payload: fourth), now: retry.delay)
        #expect(m.nextAction(now: retry.delay) == .read(after: 4))
        m.read(.none, now: retry.delay)
        #expect(m.nextAction(now: retry.delay) == .merge([batch(2, p[1]), batch(3, p[2]), batch(4, fourth)]))
        let merged = SinkBatch(sequence: 2, payload: [2], records: 30, format: .jsonArray)
        m.merged(first: 2, into: merged)
        #expect(m.nextAction(now: retry.delay) == .send(merged))
        // The same call is still on its first failure's count.
        m.result(sequence: 2, .retryable(reason: "down", retryAfter: .seconds(1)))
        guard case .retry(let second) = m.nextAction(now: retry.delay) else {
            Issue.record("no retry")
            return
        }
        #expect(second.attempt == 2 && second.batches == 3)
    }

    @Test func aRetriedCallDoesNotGrowWhenOthersAreInFlightBehindIt() {
        var m = machine(concurrency: 2, mergeBytes: 1000)
        let p = (UInt64(1)...3).map { gzipLike($0, plain: 600) }
        _ = m.nextAction(now: .zero)
        m.read(.batch(entry(1), payload: p[0]), now: .zero)
        _ = m.nextAction(now: .zero)
        m.read(.batch(entry(2), payload: p[1]), now: .zero)  // does not fit: the next call
        #expect(m.nextAction(now: .zero) == .send(batch(1, p[0])))
        #expect(m.nextAction(now: .zero) == .read(after: 2))
        m.read(.none, now: .zero)
        #expect(m.nextAction(now: .zero) == .send(batch(2, p[1])))
        m.result(sequence: 1, .retryable(reason: "down", retryAfter: .seconds(1)))
        guard case .retry(let retry) = m.nextAction(now: .zero) else {
            Issue.record("no retry")
            return
        }
        _ = m.nextAction(now: .zero)  // sleep
        m.woke(now: retry.delay, spooled: everything)
        // Batch 2 went out behind it: batch 1 goes again as it was.
        #expect(m.nextAction(now: retry.delay) == .send(batch(1, p[0])))
    }

    @Test func theUplinkBudgetSpacesCallsByTheirBytesExactly() {
        // 3 calls of 1,000, 3,000 and 2,000 bytes at 1,000 B/s: they start at 0, 1 and 4 s, and the 6,000 bytes
        // take 6 s: the next call may start at 6 s, not before.
        var m = machine(concurrency: 1, maxBytesPerSecond: 1000)
        var now = Duration.zero
        var starts: [Duration] = []
        for (i, size) in [1000, 3000, 2000].enumerated() {
            let s = UInt64(i + 1)
            let bytes = [UInt8](repeating: 7, count: size)
            #expect(m.nextAction(now: now) == .read(after: nil))
            m.read(.batch(entry(s), payload: bytes), now: now)
            var action = m.nextAction(now: now)
            if case .sleep(let until) = action {
                now = until
                m.woke(now: now, spooled: everything)
                action = m.nextAction(now: now)
            }
            #expect(action == .send(batch(s, bytes)))
            starts.append(now)
            deliver(&m, s, now: now)
        }
        #expect(starts == [.zero, .seconds(1), .seconds(4)])
        #expect(m.uplink.freeAt == .seconds(6))
        #expect(m.earliestSend() == .seconds(6))
    }

    @Test func theUplinkBudgetEarnsNoCreditWhileIdle() {
        var u = UplinkBudget(bytesPerSecond: 500)
        u.sent(1000, at: .zero)
        #expect(u.freeAt == .seconds(2))
        // Idle for a minute: the next call pays from its own start.
        u.sent(250, at: .seconds(60))
        #expect(u.freeAt == .milliseconds(60_500))
        // Many calls at once stay exact: 10,000 × 333 bytes at 500 B/s are paid for 6,660 s later.
        for _ in 0..<10_000 { u.sent(333, at: .milliseconds(60_500)) }
        #expect(u.freeAt == .milliseconds(60_500) + .seconds(6_660))
        #expect(UplinkBudget(bytesPerSecond: 0).freeAt == nil)
    }

    @Test func aBatchDroppedByTheSpoolWhileWaitingIsForgotten() {
        var m = machine(concurrency: 1)
        fill(&m, [1])
        m.result(sequence: 1, .retryable(reason: "x", retryAfter: .seconds(1)))
        guard case .retry(let retry) = m.nextAction(now: .zero) else {
            Issue.record("no retry")
            return
        }
        _ = m.nextAction(now: .zero)  // sleep
        m.woke(now: retry.delay, spooled: { _ in false })
        #expect(m.flights.isEmpty)
        #expect(m.attempts == 0)
        #expect(m.nextAction(now: retry.delay) == .read(after: nil))
    }

    @Test func aRefusedBatchIsDeadLetteredThenSettled() {
        var m = machine()
        fill(&m, [1, 2])
        m.result(sequence: 1, .permanent(reason: "400", detail: "bad field"))
        #expect(m.nextAction(now: .zero) == .deadLetter(entry(1), payload: payload(1), reason: "400", detail: "bad field"))
        m.deadLettered(true, now: .zero)
        #expect(m.nextAction(now: .zero) == .settle([entry(1)]))
        m.settled(true)
        #expect(m.flights.map(\.entry.sequence) == [2])
    }

    @Test func aBatchTheDeadLetterFolderCannotTakeIsRetried() {
        var m = machine()
        fill(&m, [1])
        m.result(sequence: 1, .permanent(reason: "400", detail: ""))
        _ = m.nextAction(now: .zero)
        m.deadLettered(false, now: .zero)
        guard case .retry(let retry) = m.nextAction(now: .zero) else {
            Issue.record("not retried")
            return
        }
        #expect(retry.reason == "cannot dead-letter")
        #expect(m.flights.map(\.entry.sequence) == [1])
    }

    @Test func aDrainStopsOnceTheSpoolIsEmpty() {
        var m = machine(.drain(maxAttempts: 3, deadline: nil))
        fill(&m, [1])
        #expect(m.nextAction(now: .zero) == .read(after: 1))
        m.read(.none, now: .zero)
        #expect(m.nextAction(now: .zero) == .waitForResult)
        m.result(sequence: 1, .delivered)
        #expect(m.nextAction(now: .zero) == .acknowledge(entry(1), recovered: false))
        #expect(m.nextAction(now: .zero) == .settle([entry(1)]))
        m.settled(true)
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.none, now: .zero)
        // Requeued dead letters are looked for before giving up.
        #expect(m.nextAction(now: .zero) == .adopt)
        m.adopted(false)
        #expect(m.nextAction(now: .zero) == .stop(.drained))
        #expect(m.nextAction(now: .zero) == .stop(.drained))
    }

    @Test func aDrainStopsAtItsDeadlineAndSleepsNoLonger() {
        var m = machine(.drain(maxAttempts: .max, deadline: .seconds(5)))
        fill(&m, [1, 2])
        m.result(sequence: 1, .retryable(reason: "x", retryAfter: .seconds(60)))
        _ = m.nextAction(now: .seconds(1))  // retry
        #expect(m.nextAction(now: .seconds(1)) == .sleep(until: .seconds(5)))
        m.woke(now: .seconds(5), spooled: everything)
        #expect(m.nextAction(now: .seconds(5)) == .stop(.deadline))
        #expect(m.stopped == .deadline)
    }

    @Test func aDrainGivesUpAfterTheAttemptsAllowed() {
        var m = machine(.drain(maxAttempts: 2, deadline: nil), concurrency: 1)
        fill(&m, [1])
        m.result(sequence: 1, .retryable(reason: "x", retryAfter: .seconds(1)))
        guard case .retry(let first) = m.nextAction(now: .zero) else {
            Issue.record("no retry")
            return
        }
        _ = m.nextAction(now: .zero)
        m.woke(now: first.delay, spooled: everything)
        _ = m.nextAction(now: first.delay)  // send again
        m.result(sequence: 1, .retryable(reason: "x", retryAfter: .seconds(1)))
        guard case .retry(let retry) = m.nextAction(now: first.delay) else {
            Issue.record("no retry")
            return
        }
        #expect(retry.attempt == 2)
        #expect(m.nextAction(now: first.delay) == .stop(.attempts))
    }

    @Test func aReadFailureWithNothingInFlightBacksOff() {
        var m = machine()
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.failed, now: .zero)
        guard case .sleep(let until) = m.nextAction(now: .zero) else {
            Issue.record("no backoff")
            return
        }
        #expect(until >= .zero && until <= .seconds(4))
        m.woke(now: until, spooled: everything)
        #expect(m.nextAction(now: until) == .read(after: nil))
    }

    @Test func aReadFailureWithCallsInFlightWaitsForThemFirst() {
        var m = machine()
        fill(&m, [1])
        #expect(m.nextAction(now: .zero) == .read(after: 1))
        m.read(.failed, now: .zero)
        #expect(m.nextAction(now: .zero) == .waitForResult)
        m.result(sequence: 1, .delivered)
        _ = m.nextAction(now: .zero)  // acknowledge
        _ = m.nextAction(now: .zero)  // settle
        m.settled(true)
        #expect(m.nextAction(now: .zero) == .read(after: nil))
    }

    @Test func aDamagedBatchSetAsideIsSettledAndReadingGoesOn() {
        var m = machine()
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.setAside(entry(1)), now: .zero)
        #expect(m.nextAction(now: .zero) == .settle([entry(1)]))
        m.settled(true)
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.batch(entry(2), payload: payload(2)), now: .zero)
        #expect(m.nextAction(now: .zero) == .send(batch(2, payload(2))))
    }

    @Test func anIdleFollowerLooksForRequeuedBatchesThenWaits() {
        var m = machine()
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.none, now: .zero)
        #expect(m.nextAction(now: .zero) == .adopt)
        m.adopted(false)
        #expect(m.nextAction(now: .zero) == .waitForBatches)
        m.batchesArrived()
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.none, now: .zero)
        #expect(m.nextAction(now: .zero) == .adopt)
        m.adopted(true)
        #expect(m.nextAction(now: .zero) == .read(after: nil))
    }

    @Test func aFailedSettleIsNotRetriedInALoopNorFollowedByAdoption() {
        var m = machine(concurrency: 1)
        fill(&m, [1])
        m.result(sequence: 1, .delivered)
        _ = m.nextAction(now: .zero)  // acknowledge
        #expect(m.nextAction(now: .zero) == .settle([entry(1)]))
        m.settled(false)
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.none, now: .zero)
        // Once more with nothing in flight, then it waits: adoption would take back the delivered file.
        #expect(m.nextAction(now: .zero) == .settle([entry(1)]))
        m.settled(false)
        #expect(m.nextAction(now: .zero) == .waitForBatches)
        #expect(m.unsettled == [entry(1)])
    }

    @Test func stoppingKeepsWhatWasDeliveredOutOfOrder() {
        var m = machine()
        fill(&m, [1, 2])
        m.result(sequence: 2, .delivered)
        m.cancel()
        #expect(m.nextAction(now: .zero) == .stop(.cancelled))
        let (late, unsettled) = m.deliveredAtStop()
        #expect(late == [entry(2)])
        #expect(unsettled == [entry(2)])
        #expect(m.flights.map(\.entry.sequence) == [1])
    }
}
