import EdgeLogAzure
import EdgeLogCore
import EdgeLogTestKit
import Testing

/// `sink.timeoutSeconds` covers a whole call, the answer's body included, for the sinks and the token request:
/// an answer that never ends is abandoned and the call is tried again. Against a real server on 127.0.0.1.
@Suite struct CallDeadlineTests {
    func httpSink(_ h: Harness, timeout: Double) throws -> HTTPSink {
        var s = SinkSettings()
        s.type = .http
        s.url = h.server.url + "/collect?token=do-not-log-me"
        s.format = "ndjson"
        s.timeoutSeconds = timeout
        return HTTPSink(
            settings: s, headers: [],
            transport: try HTTPTransport(caFile: nil, proxy: nil, timeout: .milliseconds(Int64(timeout * 1000))),
            compressor: TestCompressor(), level: 6, logger: h.log.logger)
    }

    func batch(_ n: Int) throws -> SinkBatch {
        let plain = Array("[{\"s\":\"a\",\"n\":\(n)}]".utf8)
        return SinkBatch(sequence: UInt64(n + 1), payload: try TestCompressor().compress(plain, level: 6), records: 1, format: .jsonArray)
    }

    /// An answer whose body trickles in (a byte every 50 ms, for a minute) is abandoned after the 1 s timeout;
    /// the batch is sent again and gets through, exactly once.
    @Test func aTricklingAnswerIsAbandonedAtTheTimeoutAndRetried() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.inject(.endless(status: 200, chunkBytes: 1, every: .milliseconds(50), upTo: 1200))
        let h = Harness(server: server)
        let sink = try httpSink(h, timeout: 1)
        let pipeline = try h.pipeline(
            h.configuration(sink: sink.settings), sources: [CountingSource(name: "a", total: 100, perChunk: 100)],
            sink: sink)
        #expect(try await pipeline.run(mode: .once))
        #expect(pipeline.counters[.deliveryRetries] == 1)
        #expect(expectExactlyOnce(server, source: "a", total: 100) == nil)
        #expect(h.log.all.contains { $0.contains("timed out after 1") && $0.contains("sink.timeoutSeconds") })
        try await eventually("the server saw the client go") { server.endless.abandonedByClient == 1 }
        #expect(server.endless.completed == 0)
        // The URL's query string (a token) is in no log line.
        #expect(!h.log.all.joined().contains("do-not-log-me"))
    }

    /// A body sent as fast as the client takes it, without end: EdgeLog keeps what it needs of an error body
    /// (64 KiB) and closes the connection instead of draining it.
    @Test func anEndlessAnswerIsNotDrained() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.inject(.endless(status: 503, chunkBytes: 16 << 10, every: nil, upTo: 1 << 30))
        let h = Harness(server: server)
        let sink = try httpSink(h, timeout: 60)
        let result = await sink.deliver(try batch(0))
        guard case .retryable(let reason, _) = result else {
            Issue.record("expected a retryable failure, got \(result)")
            return
        }
        #expect(reason.hasPrefix("HTTP 503"))
        try await eventually("the server saw the client go") { server.endless.abandonedByClient == 1 }
        #expect(server.endless.completed == 0)
        #expect(server.endless.bytesWritten < 64 << 20, "the client stopped reading")
    }

    /// The token request has the same deadline: a token answer that never ends fails the delivery as retryable
    /// (no token yet) after the timeout, and the next attempt gets a token and delivers.
    @Test func aTokenAnswerThatNeverEndsTimesOut() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.faultNextToken(.endless(status: 200, chunkBytes: 1, every: .milliseconds(50), upTo: 1200))
        let h = Harness(server: server)
        let sink = try h.sink(h.settings(timeout: 1))
        let first = await sink.deliver(try batch(0))
        guard case .retryable(let reason, _) = first else {
            Issue.record("expected a retryable failure, got \(first)")
            return
        }
        #expect(reason.contains("no access token"))
        #expect(reason.contains("timed out after 1"))
        #expect(await sink.deliver(try batch(0)) == .delivered)
        #expect(server.numbers(source: "a") == [0])
    }
}
