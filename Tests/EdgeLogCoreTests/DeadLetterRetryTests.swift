import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Synchronization
import Testing

@Suite struct DeadLetterRetryTests {
    func numbers(_ records: [String]) throws -> [Int] {
        try records.map { Int(try JSONParser.parse($0)["n"]!.intValue!) }
    }

    @Test func retriedDeadLettersAreDeliveredByTheNextRun() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        sink.refuseNext(2)
        let first = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 2000, perChunk: 100)], sink: sink)
        #expect(try await first.run(mode: .once))
        let store = DeadLetterStore(directory: dir.path + "/deadletter")
        let dead = try store.list()
        #expect(dead.count == 2)
        #expect(try numbers(sink.records).count == 2000 - dead.reduce(0) { $0 + $1.records })

        let before = FileSystem.nowMillis()
        let outcomes = try store.retry(into: dir.path + "/spool")
        #expect(outcomes.count == 2)
        #expect(try store.list().isEmpty)
        guard case .requeued(let entry) = outcomes[0].1 else {
            Issue.record("not requeued")
            return
        }
        #expect(entry.sequence == dead[0].sequence && entry.createdMillis >= before)

        let second = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 2000, perChunk: 100)], sink: sink)
        #expect(try await second.run(mode: .once))
        #expect(try numbers(sink.records).sorted() == Array(0..<2000))
        #expect(second.spool.snapshot.isEmpty)
        // The next batches take sequences after the requeued ones: nothing was overwritten.
        #expect(try CheckpointStore(directory: dir.path).lastSequence >= dead[1].sequence)
    }

    @Test func aRunningPipelineAdoptsRetriedDeadLetters() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        sink.refuseNext(1)
        // The driver looks for requeued batches on its clock's tick: a manual clock, moved by the test.
        let clock = ManualClock()
        let pipeline = try Pipeline(
            configuration: testConfiguration(dir), host: HostIdentity(computer: "t"),
            sources: [CountingSource(name: "a", total: 1000, perChunk: 100)], sink: sink, compressor: TestCompressor(),
            logger: testLogger, clock: clock)
        let task = Task { try await pipeline.run(mode: .follow) }
        let store = DeadLetterStore(directory: dir.path + "/deadletter")
        try await eventually("one dead letter, the rest delivered") {
            let dead = try store.list()
            return dead.count == 1 && sink.records.count + dead[0].records == 1000
        }
        _ = try store.retry(into: dir.path + "/spool")
        try await clock.waitForSleepers(1)
        clock.advance(by: .seconds(2))
        try await eventually("the retried batch delivered") { sink.records.count == 1000 }
        pipeline.shutdown()
        #expect(try await task.value)
        #expect(try numbers(sink.records).sorted() == Array(0..<1000))
        #expect(try FileSystem.list(dir.path + "/spool")?.filter { $0.hasSuffix(".gz") }.isEmpty == true)
    }

    @Test func purgeDeletesChosenOrAll() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        sink.refuseNext(3)
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 1000, perChunk: 100)], sink: sink)
        #expect(try await pipeline.run(mode: .once))
        let store = DeadLetterStore(directory: dir.path + "/deadletter")
        let dead = try store.list()
        #expect(dead.count == 3)
        #expect(store.metadata(dead[0])?["reason"]?.stringValue == "injected refusal")
        #expect(try store.purge(sequences: [dead[1].sequence]).map(\.sequence) == [dead[1].sequence])
        #expect(try store.list().map(\.sequence) == [dead[0].sequence, dead[2].sequence])
        #expect(try store.purge().count == 2)
        #expect(try FileSystem.list(dir.path + "/deadletter")?.isEmpty == true)
    }
}

@Suite struct ConcurrentDeliveryTests {
    @Test func twoCallsInFlightAcknowledgedInOrder() async throws {
        let dir = TemporaryDirectory()
        var c = Configuration()
        c.stateDirectory = dir.path
        c.batch.maxBytes = 16 * 1024
        c.batch.flushIntervalSeconds = 0.05
        let sink = GatedSink()
        let pipeline = try Pipeline(
            configuration: c, host: HostIdentity(computer: "t"),
            sources: [CountingSource(name: "a", total: 2000, perChunk: 100)],
            sink: sink, compressor: TestCompressor(), logger: testLogger,
            retryBackoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(20)))
        let task = Task { try await pipeline.run(mode: .follow) }
        try await eventually("two calls in flight") { sink.started.count == 2 }
        let first = sink.started[0]
        let second = sink.started[1]
        #expect(second == first + 1)
        sink.answer(second, .delivered)
        // The second is confirmed, but the first is not: nothing is acknowledged and no third call starts.
        try await eventually("the second's result taken") { sink.state.withLock { $0.waiting.count } == 1 }
        #expect(pipeline.spool.snapshot.contains { $0.sequence == second })
        #expect(sink.started.count == 2)
        // The first fails: it alone is sent again, the window stays at one until it gets through.
        sink.answer(first, .retryable(reason: "x", retryAfter: .milliseconds(1)))
        try await eventually("the first sent again") { sink.started.count == 3 }
        #expect(sink.started[2] == first)
        sink.answer(first, .delivered)
        try await eventually("both acknowledged, the window full again") {
            !pipeline.spool.snapshot.contains { $0.sequence <= second } && sink.started.count == 5
        }
        #expect(Array(sink.started[3...]) == [second + 1, second + 2])
        task.cancel()
        for s in [second + 1, second + 2] { sink.answer(s, .delivered) }
        _ = try? await task.value
    }
}
