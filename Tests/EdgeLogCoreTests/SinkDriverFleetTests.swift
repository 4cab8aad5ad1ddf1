import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Synchronization
import Testing

/// The fleet-facing rules through the sink driver, on a real spool and a manual clock: the uplink budget, merged
/// calls, slowing down on 429, the start jitter.
@Suite struct SinkDriverFleetTests {
    typealias Harness = SinkDriverTests.Harness

    @Test func theUplinkBudgetTakesNBytesOverRSecondsOfTheClock() async throws {
        let h = try Harness()
        try await h.spoolBatches(1...4)
        let sink = ClockedSink(clock: h.clock)
        // Each spooled batch goes out as its own call (no merging): 4 calls of n₁ … n₄ bytes at R = 1,000 B/s.
        let driver = h.driver(sink, maxBytesPerSecond: 1000)
        let run = Task { await driver.run(until: .cancelled) }
        try await eventually("the first call") { sink.calls.count == 1 }
        for k in 2...4 {
            // Call k starts when the k−1 calls before it are paid for: (n₁ + … + nₖ₋₁) / R of the manual clock.
            let paid = sink.calls.map(\.bytes).reduce(0, +)
            let due = Duration.nanoseconds(Int64(paid) * 1_000_000)  // bytes / 1,000 B/s
            try await eventually("the driver waiting for the uplink budget") { h.clock.nextDeadline?.offset == due }
            #expect(sink.calls.count == k - 1)
            h.clock.advance(by: due - h.clock.now.offset)
            try await eventually("call \(k)") { sink.calls.count == k }
            #expect(sink.calls[k - 1].at == due)
        }
        // All N bytes are paid for N / R seconds after the first call.
        let total = sink.calls.map(\.bytes).reduce(0, +)
        try await eventually("every file deleted") { h.spooledFiles.isEmpty }
        #expect(sink.calls.map(\.sequence) == [1, 2, 3, 4])
        #expect(driver.effectiveRate().map { $0 > 0 } == true)
        run.cancel()
        #expect(await run.value)
        #expect(total > 0)
    }

    @Test func aBacklogGoesOutInMergedCallsAndEveryFileIsDeletedAfterIt() async throws {
        let h = try Harness()
        try await h.spoolBatches(1...30)
        let sink = ClockedSink(clock: h.clock, merges: true, format: .ndjson)
        let driver = h.driver(sink, merging: SinkDriver.Merging(maxBytes: 1_000_000, compressor: TestGzip(), level: 6))
        let run = Task { await driver.run(until: .cancelled) }
        try await eventually("every file deleted") { h.spooledFiles.isEmpty && h.counters[.batchesDelivered] == 30 }
        // One call carried all 30 batches' records, in order.
        #expect(sink.calls.count == 1)
        #expect(sink.records == (1...30).map { "{\"n\":\($0)}" })
        #expect(h.counters[.callsMerged] == 1)
        #expect(h.counters[.batchesMerged] == 30)
        #expect(h.counters[.recordsDelivered] == 30)
        run.cancel()
        #expect(await run.value)
    }

    @Test func a429SlowsTheDriverDownOnTheClock() async throws {
        let h = try Harness()
        try await h.spoolBatches(1...3)
        let sink = GatedSink()
        let driver = h.driver(sink)
        let run = Task { await driver.run(until: .cancelled) }
        try await eventually("two calls") { sink.started.count == 2 }
        #expect(driver.pace == SinkDriver.Pace(width: 2, callInterval: nil))
        sink.answer(1, .throttled(reason: "HTTP 429", retryAfter: .seconds(4)))
        sink.answer(2, .delivered)
        try await h.clock.waitForSleepers(2)  // the adoption tick and the retry
        #expect(h.counters[.deliveryThrottled] == 1)
        let pace = driver.pace
        #expect(pace.width == 1)
        #expect(pace.congested)
        #expect(pace.callInterval != nil)
        // Retry-After 4 s plus up to one budget window (60 s) of jitter; not a moment sooner.
        let retry = try #require(h.clock.requestedSleeps.last)
        #expect(retry >= .seconds(4) && retry <= .seconds(64))
        h.clock.advance(by: retry - .milliseconds(1))
        #expect(sink.started == [1, 2])
        h.clock.advance(by: .milliseconds(1))
        try await eventually("batch 1 sent again") { sink.started.count == 3 }
        sink.answer(1, .delivered)
        // Batch 3 waits for the pace: one interval after the retry's start.
        try await eventually("the driver waiting for its pace") {
            h.clock.requestedSleeps.filter { $0 != SinkDriverTests.adoptionTick }.count == 2
        }
        #expect(sink.started.count == 3)
        h.clock.advance(by: pace.callInterval!)
        try await eventually("batch 3 sent") { sink.started.count == 4 }
        sink.answer(3, .delivered)
        try await eventually("all delivered") { h.spooledFiles.isEmpty }
        run.cancel()
        #expect(await run.value)
    }

    @Test func aBacklogAtStartWaitsTheStartJitterOnTheClock() async throws {
        let h = try Harness()
        try await h.spoolBatches(1...1)
        let sink = GatedSink()
        let driver = h.driver(sink, startJitter: .seconds(10))
        let run = Task { await driver.run(until: .cancelled) }
        try await h.clock.waitForSleepers(2)  // the adoption tick and the start jitter
        var sleeps = h.clock.requestedSleeps
        #expect(sleeps.count == 2)
        sleeps.remove(at: try #require(sleeps.firstIndex(of: SinkDriverTests.adoptionTick)))
        let wait = sleeps[0]
        #expect(wait > .zero && wait <= .seconds(10))
        #expect(sink.started.isEmpty)
        h.clock.advance(by: wait)
        try await eventually("the first call") { sink.started == [1] }
        sink.answer(1, .delivered)
        try await eventually("delivered") { h.spooledFiles.isEmpty }
        run.cancel()
        #expect(await run.value)
    }
}

/// The uplink budget through the whole pipeline (sources → batcher → spool → driver → sink), on the manual clock.
@Suite struct UplinkBudgetPipelineTests {
    @Test func aOnceRunIsPacedByTheUplinkBudgetOnTheClock() async throws {
        let dir = TemporaryDirectory()
        var configuration = testConfiguration(dir)
        configuration.sink.maxBytesPerSecond = 1000
        let clock = ManualClock()
        let sink = ClockedSink(clock: clock)
        let pipeline = try Pipeline(
            configuration: configuration, host: HostIdentity(computer: "t"),
            sources: [CountingSource(name: "a", total: 3000, perChunk: 100)], sink: sink, compressor: TestCompressor(),
            logger: testLogger, clock: clock)
        let finished = Mutex<Bool?>(nil)
        let run = Task {
            let done = try await pipeline.run(mode: .once)
            finished.withLock { $0 = done }
        }
        // Every call after the first waits, on the manual clock, until the bytes before it are paid for at 1,000 B/s.
        var waits = 0
        while true {
            try await eventually("a call waiting for the uplink budget, or the end") {
                finished.withLock { $0 } != nil || (clock.sleepers > 0 && clock.nextDeadline! > clock.now)
            }
            if finished.withLock({ $0 }) != nil { break }
            let paid = sink.calls.map(\.bytes).reduce(0, +)
            #expect(clock.nextDeadline?.offset == .nanoseconds(Int64(paid) * 1_000_000))
            clock.advance(by: clock.nextDeadline!.offset - clock.now.offset)
            waits += 1
        }
        try await run.value
        #expect(finished.withLock { $0 } == true)
        let calls = sink.calls
        #expect(calls.count > 2 && waits == calls.count - 1)
        // N bytes at R B/s: the last call started (N − its own bytes) / R after the first, to the nanosecond.
        let total = calls.map(\.bytes).reduce(0, +)
        #expect(calls.last!.at == .nanoseconds(Int64(total - calls.last!.bytes) * 1_000_000))
        #expect(Set(sink.records).count == 3000)
        #expect(pipeline.spool.snapshot.isEmpty)
    }
}

struct TestGzip: BatchCompressor {
    func compress(_ bytes: [UInt8], level: Int) throws -> [UInt8] { try Gzip.compress(bytes, level: level) }
    func decompress(_ bytes: [UInt8]) throws -> [UInt8] { try Gzip.decompress(bytes) }
}

/// A sink that delivers at once and notes each call: its sequence, size, records and when (on the manual clock).
final class ClockedSink: Sink, Sendable {
    struct Call: Sendable {
        let sequence: UInt64
        let bytes: Int
        let at: Duration
    }
    let clock: ManualClock
    let merges: Bool
    let format: BatchFormat
    private let state = Mutex<(calls: [Call], records: [String])>(([], []))

    init(clock: ManualClock, merges: Bool = false, format: BatchFormat = .ndjson) {
        self.clock = clock
        self.merges = merges
        self.format = format
    }

    var name: String { "clocked" }
    var mergesBatches: Bool { merges }
    var calls: [Call] { state.withLock { $0.calls } }
    var records: [String] { state.withLock { $0.records } }

    func deliver(_ batch: SinkBatch) async -> DeliveryResult {
        let plain = (try? Gzip.decompress(batch.payload)) ?? []
        let lines = BatchFormat.convert(plain, from: batch.format, to: .ndjson).split(separator: 0x0A)
            .map { String(decoding: $0, as: UTF8.self) }
        let now = clock.now.offset
        state.withLock {
            $0.calls.append(Call(sequence: batch.sequence, bytes: batch.payload.count, at: now))
            $0.records += lines
        }
        return .delivered
    }
}

/// A sink whose every call fails (retryable), counting the calls.
final class FailingSink: Sink, Sendable {
    let calls = Mutex(0)
    let merges: Bool
    init(merges: Bool = false) { self.merges = merges }
    var name: String { "failing" }
    var format: BatchFormat { .ndjson }
    var mergesBatches: Bool { merges }
    func deliver(_ batch: SinkBatch) async -> DeliveryResult {
        calls.withLock { $0 += 1 }
        return .retryable(reason: "down", retryAfter: .seconds(1))
    }
}

extension SinkDriverFleetTests {
    @Test(arguments: [false, true])
    func aDrainCountsTheAttemptsOfTheSameCallAcrossItsRetries(merging: Bool) async throws {
        let h = try Harness()
        try await h.spoolBatches(1...3)
        let sink = FailingSink(merges: merging)
        let driver = h.driver(
            sink, merging: merging ? SinkDriver.Merging(maxBytes: 1_000_000, compressor: TestGzip(), level: 6) : nil)
        let ended = Mutex(false)
        let run = Task {
            let done = await driver.run(until: .empty(attempts: 3, within: nil))
            ended.withLock { $0 = true }
            return done
        }
        // Each retry waits 1 s plus its jitter on the manual clock; after the third failure the drain gives up.
        for k in 1...3 {
            try await eventually("call \(k)") { sink.calls.withLock { $0 } == k }
            if k < 3 {
                try await h.clock.waitForSleepers(1)
                h.clock.advanceToNextDeadline()
            }
        }
        // The third failure ends the drain: no fourth attempt waits on the clock.
        try await eventually("the drain to give up") { ended.withLock { $0 } }
        #expect(await run.value == false)
        #expect(sink.calls.withLock { $0 } == 3)
        #expect(h.counters[.deliveryRetries] == 3)
        #expect(h.spooledFiles.count == 3)
    }
}
