import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Synchronization
import Testing

/// The sink driver on a real spool with a manual clock: retries, deadlines, the shutdown patience and the
/// adoption tick take no real time.
@Suite struct SinkDriverTests {
    static let adoptionTick = Duration.seconds(2)

    final class Harness: Sendable {
        let dir = TemporaryDirectory()
        let counters = Counters()
        let clock = ManualClock()
        let spool: Spool
        let committer: CheckpointCommitter
        let deadLetters: DeadLetterStore

        init() throws {
            spool = try Spool(directory: dir.path + "/spool", settings: SpoolSettings(), counters: counters, logger: testLogger)
            committer = CheckpointCommitter(store: try CheckpointStore(directory: dir.path), counters: counters, logger: testLogger)
            deadLetters = DeadLetterStore(directory: dir.path + "/deadletter")
        }

        /// Spools and admits batches `sequences`, one record each ({"n": sequence}).
        func spoolBatches(_ sequences: ClosedRange<UInt64>) async throws {
            for s in sequences {
                let gzip = try Gzip.compress(Array("{\"n\":\(s)}\n".utf8))
                let (entry, _) = try await spool.write(
                    sequence: s, payload: gzip, records: 1, format: .ndjson, createdMillis: FileSystem.nowMillis(),
                    positions: ["a": .cursor("a:\(s)")])
                await committer.spooled(sequence: s, positions: ["a": .cursor("a:\(s)")], writeNow: false)
                spool.admit(entry)
            }
        }

        func driver(
            _ sink: any Sink, backoff: Backoff = Backoff(), merging: SinkDriver.Merging? = nil,
            maxBytesPerSecond: Int = 0, startJitter: Duration = .zero
        ) -> SinkDriver {
            SinkDriver(
                spool: spool, sink: sink, deadLetters: deadLetters, committer: committer, counters: counters,
                logger: testLogger, backoff: backoff, clock: clock, merging: merging,
                maxBytesPerSecond: maxBytesPerSecond, startJitter: startJitter)
        }

        var spooledFiles: [String] { ((try? FileSystem.list(spool.directory)) ?? []).filter { $0.hasSuffix(".gz") } }
    }

    @Test func aRetryWaitsForTheClockNotForRealTime() async throws {
        let h = try Harness()
        try await h.spoolBatches(1...2)
        let sink = GatedSink()
        let driver = h.driver(sink)
        let run = Task { await driver.run(until: .cancelled) }
        try await eventually("two calls") { sink.started.count == 2 }
        sink.answer(1, .retryable(reason: "busy", retryAfter: .seconds(30)))
        try await h.clock.waitForSleepers(2)  // the adoption tick and the retry
        // Retry-After 30 s, and a random part of up to half as long again on top.
        let retry = try #require(h.clock.requestedSleeps.last { $0 != SinkDriverTests.adoptionTick })
        #expect(retry >= .seconds(30) && retry <= .seconds(45))
        sink.answer(2, .delivered)
        // No second call for batch 1 before the clock says so.
        #expect(sink.started == [1, 2])
        h.clock.advance(by: retry - .milliseconds(1))
        #expect(sink.started == [1, 2])
        h.clock.advance(by: .milliseconds(1))
        try await eventually("batch 1 sent again") { sink.started.count == 3 }
        #expect(sink.started[2] == 1)
        sink.answer(1, .delivered)
        try await eventually("both delivered and their files deleted") { h.spooledFiles.isEmpty }
        #expect(h.counters[.deliveryRetries] == 1)
        #expect(h.counters[.deliveryRetryAfterMillis] == 30_000)
        run.cancel()
        #expect(await run.value)
    }

    @Test func aDrainEndsAtItsDeadlineOnTheClock() async throws {
        let h = try Harness()
        try await h.spoolBatches(1...1)
        let sink = GatedSink()
        let driver = h.driver(sink)
        let run = Task { await driver.run(until: .empty(attempts: .max, within: .seconds(5))) }
        try await eventually("the call") { sink.started.count == 1 }
        sink.answer(1, .retryable(reason: "down", retryAfter: .seconds(60)))
        try await h.clock.waitForSleepers(2)  // the deadline and the retry, capped at it
        #expect(h.clock.nextDeadline == ManualClock.Instant(offset: .seconds(5)))
        h.clock.advance(by: .seconds(5))
        #expect(await run.value == false)
        #expect(h.spooledFiles.count == 1)
        #expect(sink.started == [1])
    }

    @Test func callsInFlightGetTheShutdownPatienceOnTheClock() async throws {
        let h = try Harness()
        try await h.spoolBatches(1...2)
        let sink = GatedSink()
        let driver = h.driver(sink)
        let run = Task { await driver.run(until: .cancelled) }
        try await eventually("two calls") { sink.started.count == 2 }
        run.cancel()
        try await h.clock.waitForSleepers(1)  // the patience
        // The upstream answers the first within the patience: it is acknowledged and its file goes.
        sink.answer(1, .delivered)
        h.clock.advance(by: .seconds(3))
        #expect(await run.value == false)
        #expect(h.spooledFiles.count == 1)
        #expect(h.counters[.batchesDelivered] == 1)
        #expect(sink.cancelled == [2])
    }

    @Test func anIdleDriverAdoptsRetriedDeadLettersOnItsTick() async throws {
        let h = try Harness()
        try await h.spoolBatches(1...1)
        let sink = GatedSink()
        let driver = h.driver(sink)
        let run = Task { await driver.run(until: .cancelled) }
        try await eventually("the call") { sink.started.count == 1 }
        sink.answer(1, .permanent(reason: "refused", detail: ""))
        try await eventually("dead-lettered") { (try h.deadLetters.list()).count == 1 && h.spooledFiles.isEmpty }
        _ = try h.deadLetters.retry(into: h.spool.directory)
        #expect(sink.started == [1])
        try await h.clock.waitForSleepers(1)
        h.clock.advance(by: .seconds(2))
        try await eventually("the retried batch sent") { sink.started.count == 2 }
        sink.answer(1, .delivered)
        try await eventually("delivered") { h.spooledFiles.isEmpty && h.counters[.batchesDelivered] == 1 }
        run.cancel()
        #expect(await run.value)
    }
}

/// A sink whose calls wait until the test answers them; notes the calls cancelled.
final class GatedSink: Sink, Sendable {
    let state = Mutex<(started: [UInt64], cancelled: [UInt64], waiting: [UInt64: CheckedContinuation<DeliveryResult, Never>])>(([], [], [:]))
    var name: String { "gated" }
    var format: BatchFormat { .ndjson }
    var maxConcurrentDeliveries: Int { 2 }
    var started: [UInt64] { state.withLock { $0.started } }
    var cancelled: [UInt64] { state.withLock { $0.cancelled } }

    func deliver(_ batch: SinkBatch) async -> DeliveryResult {
        await withTaskCancellationHandler {
            await withCheckedContinuation { c in
                state.withLock {
                    $0.started.append(batch.sequence)
                    $0.waiting[batch.sequence] = c
                }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<DeliveryResult, Never>? in
                guard let c = s.waiting.removeValue(forKey: batch.sequence) else { return nil }
                s.cancelled.append(batch.sequence)
                return c
            }
            waiter?.resume(returning: .retryable(reason: "cancelled", retryAfter: nil))
        }
    }

    func answer(_ sequence: UInt64, _ result: DeliveryResult) {
        state.withLock { $0.waiting.removeValue(forKey: sequence) }?.resume(returning: result)
    }
}
