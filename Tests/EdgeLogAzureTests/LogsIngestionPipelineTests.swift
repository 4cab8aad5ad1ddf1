import EdgeLogAzure
import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Testing

/// The Logs Ingestion sink driven by the real pipeline against the contract-enforcing stand-in.
@Suite struct LogsIngestionPipelineTests {
    @Test func everyRecordArrivesOnceAndInOrder() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        let h = Harness(server: server)
        let sink = try h.sink(h.settings())
        let pipeline = try h.pipeline(
            h.configuration(sink: sink.settings),
            sources: [
                CountingSource(name: "a", total: 3000, perChunk: 100),
                CountingSource(name: "b", total: 500, perChunk: 7),
            ],
            sink: sink)
        #expect(try await pipeline.run(mode: .once))
        #expect(expectExactlyOnce(server, source: "a", total: 3000) == nil)
        #expect(expectExactlyOnce(server, source: "b", total: 500) == nil)
        // One call per batch, except where batches waiting behind each other were merged into one call.
        let c = pipeline.counters
        #expect(server.calls.count == c[.batchesDelivered] - c[.batchesMerged] + c[.callsMerged])
        #expect(server.tokenRequests == 1)
        let ids = server.state.withLock { $0.requestIds }
        #expect(Set(ids).count == ids.count)
        #expect(pipeline.spool.snapshot.isEmpty)
        #expect(sink.maxFieldBytes == 64_000)
    }

    @Test func callsStayWithinConcurrencyAndAreAcknowledgedInOrder() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.state.withLock { $0.holdUntilInFlight = 2 }
        let h = Harness(server: server)
        let sink = try h.sink(h.settings(concurrency: 2))
        let pipeline = try h.pipeline(
            h.configuration(sink: sink.settings), sources: [CountingSource(name: "a", total: 4000, perChunk: 200)],
            sink: sink)
        #expect(try await pipeline.run(mode: .once))
        #expect(server.state.withLock { $0.maxInFlight } == 2)
        #expect(server.tokenRequests == 1)  // the first two calls shared one token request
        #expect(expectExactlyOnce(server, source: "a", total: 4000, ordered: false) == nil)
        #expect(try CheckpointStore(directory: h.dir.path).positions["a"] == .cursor("a:3999"))
    }

    @Test func throttlingWaitsExactlyTheRetryAfter() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        // Seconds form, then the HTTP-date form two seconds ahead (one-second resolution: 1–2 s from now).
        server.inject(.status(429, retryAfter: "1"))
        let h = Harness(server: server)
        // A 2-second budget window: the 429's retry is spread over 0–2 s after its Retry-After (60 s by default).
        var settings = h.settings()
        settings.budgetWindowSeconds = 2
        let sink = try h.sink(settings)
        let feed = FeedSource(name: "a")
        let pipeline = try h.pipeline(h.configuration(sink: sink.settings), sources: [feed], sink: sink)
        let task = Task { try await pipeline.run(mode: .follow) }
        feed.emit(50)
        try await eventually("the throttled batch delivered") { server.numbers(source: "a").count == 50 }
        let times = server.state.withLock { $0.callTimes }
        #expect(times.count == 2)
        #expect(times[1] - times[0] >= .milliseconds(950))
        let nowSeconds = FileSystem.nowMillis() / 1000
        server.inject(.status(503, retryAfter: Self.httpDate(nowSeconds + 2)))
        let before = FileSystem.nowMillis()
        feed.emit(50)
        try await eventually("the second batch delivered") { server.numbers(source: "a").count == 100 }
        let waited = FileSystem.nowMillis() - before
        #expect(waited >= (nowSeconds + 2) * 1000 - before - 50)
        #expect(pipeline.counters[.deliveryRetries] == 2)
        #expect(
            h.log.all.contains {
                $0.contains("sink logsIngestion failed batch") && $0.contains("HTTP 429")
                    && $0.contains("x-ms-client-request-id")
            })
        pipeline.shutdown()
        #expect(try await task.value)
        #expect(expectExactlyOnce(server, source: "a", total: 100) == nil)
    }

    static func httpDate(_ epoch: Int64) -> String {
        let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let d = Timestamp.civilFromDays(epoch / 86400)
        let s = epoch % 86400
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return
            "\(days[Int((epoch / 86400) % 7)]), \(two(d.day)) \(months[Int(d.month - 1)]) \(d.year) \(two(s / 3600)):\(two(s / 60 % 60)):\(two(s % 60)) GMT"
    }

    @Test func serverErrorsAndResetsAreRetriedWithoutLoss() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.inject(
            .status(503), .status(500), .resetBeforeStore, .status(502), .resetAfterStore, .status(504),
            .resetAfterStore)
        let h = Harness(server: server)
        let sink = try h.sink(h.settings())
        let pipeline = try h.pipeline(
            h.configuration(sink: sink.settings), sources: [CountingSource(name: "a", total: 2000, perChunk: 50)],
            sink: sink)
        let task = Task { try await pipeline.run(mode: .follow) }
        try await eventually("all delivered") {
            Set(server.numbers(source: "a")).count == 2000 && pipeline.spool.snapshot.isEmpty
        }
        pipeline.shutdown()
        #expect(try await task.value)
        #expect(expectExactlyOnce(server, source: "a", total: 2000) == nil)
        #expect(server.calls.filter { !$0.acknowledged }.count == 2)
        #expect(pipeline.counters[.deliveryRetries] == 7)
        #expect(pipeline.counters[.batchesDeadLettered] == 0)
    }

    @Test func aSlowServerTimesOutAndTheBatchIsSentAgain() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.inject(.slow(.milliseconds(2500)))
        let h = Harness(server: server)
        let sink = try h.sink(h.settings(timeout: 1))
        let pipeline = try h.pipeline(
            h.configuration(sink: sink.settings), sources: [CountingSource(name: "a", total: 300, perChunk: 50)],
            sink: sink)
        #expect(try await pipeline.run(mode: .once))
        #expect(expectExactlyOnce(server, source: "a", total: 300) == nil)
        #expect(h.log.all.contains { $0.contains("timed out after") })
        #expect(server.calls.count >= 2)
    }

    @Test func tokensAreRenewedAheadOfExpiryAndOnceOn401() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        // The sink's tokens live on a manual clock: an hour-long token is renewed 5 minutes before it expires.
        let clock = ManualClock()
        let h = Harness(server: server)
        let sink = try h.sink(h.settings(), clock: ElapsedClock(clock))
        let feed = FeedSource(name: "a")
        let pipeline = try h.pipeline(h.configuration(sink: sink.settings), sources: [feed], sink: sink)
        let task = Task { try await pipeline.run(mode: .follow) }
        feed.emit(20)
        try await eventually("the first 20 delivered") { server.numbers(source: "a").count == 20 }
        #expect(server.tokenRequests == 1)
        // Just before the renewal window the cached token is used.
        clock.advance(by: .seconds(3299))
        feed.emit(20)
        try await eventually("40 delivered") { server.numbers(source: "a").count == 40 }
        #expect(server.tokenRequests == 1)
        // In it, a new token is fetched ahead of expiry.
        clock.advance(by: .seconds(1))
        feed.emit(20)
        try await eventually("60 delivered, the token renewed ahead") { server.numbers(source: "a").count == 60 }
        #expect(server.tokenRequests == 2)
        #expect(server.count(401) == 0)
        // Revoked server-side: 401, one renewal, delivered.
        server.inject(.revokeTokens)
        feed.emit(20)
        try await eventually("80 delivered after the 401") { server.numbers(source: "a").count == 80 }
        #expect(server.count(401) == 1)
        #expect(server.tokenRequests == 3)
        #expect(pipeline.counters[.batchesDeadLettered] == 0)
        pipeline.shutdown()
        #expect(try await task.value)
        #expect(expectExactlyOnce(server, source: "a", total: 80) == nil)
    }

    /// The production wiring: the provider on the real clock renews a 2 s token (at half its life; when exactly is
    /// the manual-clock test's business).
    @Test func tokensAreRenewedOnTheRealClock() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.setTokenLifetime(2)
        let h = Harness(server: server)
        let settings = h.settings()
        let provider = EntraTokenProvider(
            tokenURL: settings.tokenURL, clientId: settings.clientId, secret: Secret(IngestionServer.clientSecret),
            scope: settings.scope, transport: try HTTPTransport(caFile: nil, proxy: nil, timeout: .seconds(5)),
            logger: h.log.logger)
        let first = try await provider.token()
        // On a clock that did not move, the first token would be used for ever.
        try await eventually("a new token once a second has passed") { try await provider.token() != first }
        #expect(await provider.fetched >= 2)
        #expect(server.tokenRequests == (await provider.fetched))
    }

    @Test func refusedBatchesAreDeadLetteredWithStatusBodyAndRequestId() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.inject(
            .status(403, body: "{\"error\":{\"code\":\"Forbidden\",\"message\":\"no role\"}}"), .status(401),
            .status(401), .status(404), .status(400), .status(413))
        let h = Harness(server: server)
        let sink = try h.sink(h.settings())
        let pipeline = try h.pipeline(
            h.configuration(sink: sink.settings), sources: [CountingSource(name: "a", total: 2000, perChunk: 100)],
            sink: sink)
        #expect(try await pipeline.run(mode: .once))
        let dead = try h.deadLetters.list()
        #expect(dead.count == 5)
        let reasons = dead.compactMap { h.deadLetters.metadata($0)?["reason"]?.stringValue }
        #expect(
            reasons[0].hasPrefix(
                "HTTP 403 Forbidden: no role; the app registration needs the Monitoring Metrics Publisher role"))
        #expect(reasons[1].hasPrefix("HTTP 401"))
        #expect(reasons[1].contains("after renewing the access token"))
        #expect(reasons[2].hasPrefix("HTTP 404"))
        #expect(reasons[3].hasPrefix("HTTP 400"))
        #expect(reasons[4].hasPrefix("HTTP 413"))
        #expect(reasons.allSatisfy { $0.contains("x-ms-client-request-id ") })
        let detail = h.deadLetters.metadata(dead[0])?["detail"]?.stringValue ?? ""
        #expect(detail.contains("body: {\"error\":{\"code\":\"Forbidden\""))
        // Nothing lost: delivered + dead-lettered is everything, once.
        var numbers = Set(server.numbers(source: "a"))
        for entry in dead {
            let plain = try Gzip.decompress(try FileSystem.read(h.dir.path + "/deadletter/" + entry.fileName)!)
            for record in try JSONParser.parse(plain).arrayValue! { numbers.insert(Int(record["n"]!.intValue!)) }
        }
        #expect(numbers == Set(0..<2000))
        #expect(server.tokenRequests == 2)  // the 401 renewed the token once
        #expect(h.log.all.contains { $0.contains("sink logsIngestion failed batch") && $0.contains("for good") })
    }

    @Test func aWrongSecretIsAConfigurationErrorAndNeverShown() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        let h = Harness(server: server)
        let sink = try h.sink(h.settings(), secret: "wrong-secret-value")
        let pipeline = try h.pipeline(
            h.configuration(sink: sink.settings), sources: [CountingSource(name: "a", total: 1000, perChunk: 100)],
            sink: sink)
        #expect(try await pipeline.run(mode: .once))
        let dead = try h.deadLetters.list()
        #expect(dead.count > 1)
        #expect(dead.reduce(0) { $0 + $1.records } == 1000)
        #expect(server.tokenRequests == 1)  // the refusal is remembered, not asked again per batch
        let reason = h.deadLetters.metadata(dead[0])?["reason"]?.stringValue ?? ""
        #expect(reason.contains("HTTP 401 invalid_client: AADSTS7000215"))
        #expect(reason.contains("check sink.tenantId"))
        #expect(!h.log.all.joined().contains("wrong-secret-value"))
        #expect(!reason.contains("wrong-secret-value"))
    }

    @Test func anOutageFillsTheSpoolWhichDrainsAfterwardsWithDropsCounted() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.setOutage(.status(500))
        let h = Harness(server: server)
        let sink = try h.sink(h.settings())
        var config = h.configuration(sink: sink.settings)
        config.spool.maxBytes = 16 * 1024  // a dozen batches of these records
        let feed = FeedSource(name: "a")
        let pipeline = try h.pipeline(config, sources: [feed], sink: sink)
        let task = Task { try await pipeline.run(mode: .follow) }
        for _ in 0..<40 { feed.emit(200) }
        try await eventually("the budget drops the oldest") { pipeline.counters[.spoolDroppedSizeBatches] > 0 }
        try await eventually("everything spooled") { pipeline.counters[.recordsSpooled] == 8000 }
        // A short TTL drops what waited too long (batches older than 1 s).
        pipeline.spool.update(
            settings: {
                var s = config.spool
                s.timeToLiveSeconds = 1
                return s
            }())
        try await eventually("the TTL drops what waited too long") { pipeline.counters[.spoolDroppedTTLBatches] > 0 }
        pipeline.spool.update(settings: config.spool)
        feed.emit(100)
        try await eventually("the last records spooled") { pipeline.counters[.recordsSpooled] == 8100 }
        #expect(pipeline.counters[.deliveryRetries] > 0)
        server.setOutage(nil)
        try await eventually("the spool drained") { pipeline.spool.snapshot.isEmpty }
        pipeline.shutdown()
        #expect(try await task.value)
        let got = server.numbers(source: "a")
        #expect(Set(got).count == got.count)  // no duplicates
        let dropped = pipeline.counters[.spoolDroppedSizeRecords] + pipeline.counters[.spoolDroppedTTLRecords]
        #expect(got.count + dropped == 8100)
        #expect(got.count > 0)
        #expect(got == got.sorted())
    }

    @Test func oneByteOverTheLimitIsRefusedAndTheLimitItselfIsNot() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        let h = Harness(server: server)
        let sink = try h.sink(h.settings())
        func array(_ size: Int) -> [UInt8] {
            let head = Array("[{\"s\":\"a\",\"n\":0,\"pad\":\"".utf8)
            let tail = Array("\"}]".utf8)
            return head + Array(repeating: UInt8(ascii: "x"), count: size - head.count - tail.count) + tail
        }
        let exact = SinkBatch(
            sequence: 1, payload: try TestCompressor().compress(array(1_000_000), level: 6), records: 1,
            format: .jsonArray)
        #expect(await sink.deliver(exact) == .delivered)
        let over = SinkBatch(
            sequence: 2, payload: try TestCompressor().compress(array(1_000_001), level: 6), records: 1,
            format: .jsonArray)
        guard case .permanent(let reason, _) = await sink.deliver(over) else {
            Issue.record("an oversized call must be refused for good")
            return
        }
        #expect(reason.hasPrefix("HTTP 413 ContentLengthLimitExceeded"))
    }

    @Test func batchesAtTheOneMegabyteLimitAreAccepted() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        let h = Harness(server: server)
        let sink = try h.sink(h.settings())
        let pipeline = try h.pipeline(
            h.configuration(maxBytes: 1_000_000, sink: sink.settings),
            sources: [CountingSource(name: "a", total: 120, perChunk: 10, size: 30_000)], sink: sink)
        #expect(try await pipeline.run(mode: .once))
        #expect(server.count(413) == 0)
        #expect(expectExactlyOnce(server, source: "a", total: 120) == nil)
        #expect(server.calls.count >= 4)
    }
}
