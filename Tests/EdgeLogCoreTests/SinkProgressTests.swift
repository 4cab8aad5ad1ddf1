import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Testing

/// What health checks and metrics read from a running pipeline: the sink's progress, the spool's depth,
/// sources that died.
@Suite struct SinkProgressTests {
    @Test func failingSinceIsSetByFailuresAndClearedByADelivery() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        sink.failNext(1_000_000)
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 300, perChunk: 50)], sink: sink)
        #expect(pipeline.driver.progress == SinkDriver.Progress())
        let started = FileSystem.nowMillis()
        let task = Task { try await pipeline.run(mode: .follow) }
        try await eventually("retries waiting for Retry-After") { pipeline.counters[.deliveryRetryAfterWaits] >= 3 }
        let failing = pipeline.driver.progress
        #expect(failing.lastDeliveryMillis == nil)
        #expect(try #require(failing.failingSinceMillis) >= started)
        #expect(failing.lastError == "injected failure")
        let depth = pipeline.spool.depth
        #expect(depth.batches > 0 && depth.records > 0 && depth.bytes > 0)
        #expect(try #require(depth.oldestCreatedMillis) >= started)
        #expect(pipeline.spool.maxBytes == SpoolSettings().maxBytes)
        // CollectingSink asks for a 1 ms wait each time.
        #expect(pipeline.counters[.deliveryRetryAfterMillis] == pipeline.counters[.deliveryRetryAfterWaits])

        sink.failNext(0)
        try await eventually("all delivered") { sink.records.count == 300 }
        try await eventually("the spool emptied") { pipeline.spool.depth == SpoolDepth() }
        let healthy = pipeline.driver.progress
        #expect(healthy.failingSinceMillis == nil)
        #expect(healthy.lastError == nil)
        #expect(healthy.lastDeliveryMillis != nil)
        pipeline.shutdown()
        #expect(try await task.value)
    }

    @Test func deadLettersCountWhileFailing() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        sink.refuseNext(1_000_000)
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [CountingSource(name: "a", total: 300, perChunk: 50)], sink: sink)
        #expect(try await pipeline.run(mode: .once))
        let progress = pipeline.driver.progress
        #expect(progress.failingSinceMillis != nil)
        #expect(progress.deadLettersWhileFailing == pipeline.counters[.batchesDeadLettered])
        #expect(progress.deadLettersWhileFailing > 0)
        #expect(progress.lastError == "injected refusal")
    }

    struct BrokenSource: LogSource {
        var name: String { "broken" }
        struct Broke: Error, CustomStringConvertible { var description: String { "disk on fire" } }
        func run(_ context: SourceContext) async throws { throw Broke() }
    }

    @Test func aSourceThatDiesIsReported() async throws {
        let dir = TemporaryDirectory()
        let sink = CollectingSink(decompress: { try Gzip.decompress($0) })
        let pipeline = try testPipeline(
            testConfiguration(dir), sources: [BrokenSource(), CountingSource(name: "a", total: 10, perChunk: 5)], sink: sink)
        let task = Task { try await pipeline.run(mode: .follow) }
        try await eventually("the broken source is noted") { !pipeline.stoppedSources.isEmpty }
        #expect(pipeline.stoppedSources.map(\.source) == ["broken"])
        #expect(pipeline.stoppedSources.first?.reason == "disk on fire")
        // Stopping the pipeline is not a source dying.
        pipeline.shutdown()
        #expect(try await task.value)
        #expect(pipeline.stoppedSources.count == 1)
    }
}
