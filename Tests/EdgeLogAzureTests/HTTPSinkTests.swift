import EdgeLogAzure
import EdgeLogCore
import EdgeLogTestKit
import Testing

@Suite struct HTTPSinkTests {
    func sink(_ h: Harness, format: String) throws -> HTTPSink {
        var s = SinkSettings()
        s.type = .http
        s.url = h.server.url + "/collect"
        s.format = format
        s.headers = ["X-Tenant": "plant-7"]
        s.headersFromEnvironment = ["Authorization": "COLLECTOR_TOKEN"]
        let headers =
            s.headers.map { ($0.key, Secret($0.value)) }
            + (try SecretSource.headers(s.headersFromEnvironment, environment: ["COLLECTOR_TOKEN": "Bearer tok-123"]))
        return HTTPSink(
            settings: s, headers: headers, transport: try HTTPTransport(caFile: nil, proxy: nil, timeout: .seconds(5)),
            compressor: TestCompressor(), level: 6, logger: h.log.logger)
    }

    @Test(arguments: ["ndjson", "jsonArray"])
    func postsGzipBatchesWithTheConfiguredHeaders(format: String) async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.inject(.status(503, retryAfter: "0"), .status(500))
        let h = Harness(server: server)
        let sink = try sink(h, format: format)
        #expect(sink.format == (format == "ndjson" ? .ndjson : .jsonArray))
        let pipeline = try h.pipeline(
            h.configuration(sink: sink.settings), sources: [CountingSource(name: "a", total: 1500, perChunk: 100)],
            sink: sink)
        #expect(try await pipeline.run(mode: .once))
        #expect(expectExactlyOnce(server, source: "a", total: 1500, ordered: false) == nil)  // two calls in flight
        let headers = server.state.withLock { $0.collectorHeaders }
        #expect(headers.allSatisfy { call in call.contains { $0.0 == "Authorization" && $0.1 == "Bearer tok-123" } })
        #expect(headers.allSatisfy { call in call.contains { $0.0 == "X-Tenant" && $0.1 == "plant-7" } })
        #expect(headers.allSatisfy { call in call.contains { $0.0 == "X-Request-ID" && SinkSettings.isGUID($0.1) } })
        #expect(pipeline.counters[.deliveryRetries] == 2)
        #expect(!h.log.all.joined().contains("tok-123"))
    }

    @Test func refusalsAreDeadLettered() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        server.inject(.status(401, body: "denied"))
        let h = Harness(server: server)
        let sink = try sink(h, format: "ndjson")
        let pipeline = try h.pipeline(
            h.configuration(sink: sink.settings), sources: [CountingSource(name: "a", total: 200, perChunk: 100)],
            sink: sink)
        #expect(try await pipeline.run(mode: .once))
        let dead = try h.deadLetters.list()
        #expect(dead.count == 1)
        let reason = h.deadLetters.metadata(dead[0])?["reason"]?.stringValue ?? ""
        #expect(
            reason.hasPrefix("HTTP 401 denied; check the credentials in sink.headersFromEnvironment (X-Request-ID "))
    }

    @Test func aSpooledBatchOfTheOtherLayoutIsConverted() async throws {
        let server = try await IngestionServer.start()
        defer { Task { await server.stop() } }
        let h = Harness(server: server)
        let sink = try sink(h, format: "ndjson")
        let plain = Array("[{\"s\":\"a\",\"n\":0},{\"s\":\"a\",\"n\":1}]".utf8)
        let batch = SinkBatch(
            sequence: 1, payload: try TestCompressor().compress(plain, level: 6), records: 2, format: .jsonArray)
        #expect(await sink.deliver(batch) == .delivered)
        #expect(server.numbers(source: "a") == [0, 1])
    }
}
