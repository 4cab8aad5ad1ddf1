@testable import EdgeLogCore
import Testing

/// The sink driver's rules, without a spool, a network or a clock: events in, actions out.
@Suite struct DeliveryStateMachineTests {
    func entry(_ sequence: UInt64, records: Int = 10) -> SpoolEntry {
        SpoolEntry(sequence: sequence, createdMillis: 1_000, records: records, bytes: 100, format: .ndjson)
    }

    func payload(_ sequence: UInt64) -> [UInt8] { [UInt8(truncatingIfNeeded: sequence)] }

    func machine(
        _ limit: DeliveryStateMachine.Limit = .follow, concurrency: Int = 2, idempotent: Bool = false,
        backoff: Backoff = Backoff(initial: .seconds(4), maximum: .seconds(4))
    ) -> DeliveryStateMachine {
        DeliveryStateMachine(limit: limit, concurrency: concurrency, idempotent: idempotent, backoff: backoff)
    }

    /// Reads and sends `sequences` (the window's next batches).
    func fill(_ m: inout DeliveryStateMachine, _ sequences: [UInt64], now: Duration = .zero) {
        var previous: UInt64?
        for s in sequences {
            #expect(m.nextAction(now: now) == .read(after: previous))
            m.read(.batch(entry(s), payload: payload(s)), now: now)
            #expect(m.nextAction(now: now) == .send(SinkBatch(sequence: s, payload: payload(s), records: 10, format: .ndjson)))
            previous = s
        }
    }

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

    @Test func aRetryableFailureNarrowsTheWindowAndResendsTheHeadAfterRetryAfter() {
        var m = machine()
        fill(&m, [1, 2])
        m.result(sequence: 1, .retryable(reason: "503", retryAfter: .seconds(7)))
        let retry = DeliveryStateMachine.Retry(entry: entry(1), attempt: 1, reason: "503", retryAfter: .seconds(7), delay: .seconds(7))
        #expect(m.nextAction(now: .seconds(1)) == .retry(retry))
        #expect(m.width == 1)
        #expect(m.nextAction(now: .seconds(1)) == .sleep(until: .seconds(8)))
        // Woken before its time (nothing to do yet): it sleeps again.
        m.woke(now: .seconds(5), headSpooled: true)
        #expect(m.nextAction(now: .seconds(5)) == .sleep(until: .seconds(8)))
        m.woke(now: .seconds(8), headSpooled: true)
        #expect(m.nextAction(now: .seconds(8)) == .send(SinkBatch(sequence: 1, payload: payload(1), records: 10, format: .ndjson)))
        // The window is one wide: batch 2 is still in flight, nothing new is read.
        #expect(m.nextAction(now: .seconds(8)) == .waitForResult)
        m.result(sequence: 1, .delivered)
        #expect(m.nextAction(now: .seconds(9)) == .acknowledge(entry(1), recovered: true))
        #expect(m.width == 2)
        #expect(m.attempts == 0)
    }

    @Test func withoutRetryAfterTheBackoffDecidesAndGrows() {
        var m = machine(concurrency: 1, backoff: Backoff(initial: .seconds(2), maximum: .seconds(60)))
        fill(&m, [1])
        var ceilings: [Duration] = []
        for attempt in 1...4 {
            m.result(sequence: 1, .retryable(reason: "down", retryAfter: nil))
            guard case .retry(let retry) = m.nextAction(now: .zero) else {
                Issue.record("no retry")
                return
            }
            #expect(retry.attempt == attempt)
            // A random point in the upper half of 2 s × 2^(attempt-1).
            let ceiling = Duration.seconds(2 << (attempt - 1))
            #expect(retry.delay >= ceiling / 2 && retry.delay <= ceiling)
            ceilings.append(ceiling)
            #expect(m.nextAction(now: .zero) == .sleep(until: retry.delay))
            m.woke(now: retry.delay, headSpooled: true)
            _ = m.nextAction(now: retry.delay)  // send again
        }
        #expect(ceilings == [.seconds(2), .seconds(4), .seconds(8), .seconds(16)])
    }

    @Test func aBatchDroppedByTheSpoolWhileWaitingIsForgotten() {
        var m = machine(concurrency: 1)
        fill(&m, [1])
        m.result(sequence: 1, .retryable(reason: "x", retryAfter: .seconds(1)))
        _ = m.nextAction(now: .zero)  // retry
        _ = m.nextAction(now: .zero)  // sleep
        m.woke(now: .seconds(1), headSpooled: false)
        #expect(m.flights.isEmpty)
        #expect(m.attempts == 0)
        #expect(m.nextAction(now: .seconds(1)) == .read(after: nil))
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
        m.woke(now: .seconds(5), headSpooled: true)
        #expect(m.nextAction(now: .seconds(5)) == .stop(.deadline))
        #expect(m.stopped == .deadline)
    }

    @Test func aDrainGivesUpAfterTheAttemptsAllowed() {
        var m = machine(.drain(maxAttempts: 2, deadline: nil), concurrency: 1)
        fill(&m, [1])
        m.result(sequence: 1, .retryable(reason: "x", retryAfter: .seconds(1)))
        _ = m.nextAction(now: .zero)
        _ = m.nextAction(now: .zero)
        m.woke(now: .seconds(1), headSpooled: true)
        _ = m.nextAction(now: .seconds(1))  // send again
        m.result(sequence: 1, .retryable(reason: "x", retryAfter: .seconds(1)))
        guard case .retry(let retry) = m.nextAction(now: .seconds(1)) else {
            Issue.record("no retry")
            return
        }
        #expect(retry.attempt == 2)
        #expect(m.nextAction(now: .seconds(1)) == .stop(.attempts))
    }

    @Test func aReadFailureWithNothingInFlightBacksOff() {
        var m = machine()
        #expect(m.nextAction(now: .zero) == .read(after: nil))
        m.read(.failed, now: .zero)
        guard case .sleep(let until) = m.nextAction(now: .zero) else {
            Issue.record("no backoff")
            return
        }
        #expect(until >= .seconds(2) && until <= .seconds(4))
        m.woke(now: until, headSpooled: false)
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
        #expect(m.nextAction(now: .zero) == .send(SinkBatch(sequence: 2, payload: payload(2), records: 10, format: .ndjson)))
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
