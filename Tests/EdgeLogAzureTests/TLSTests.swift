import EdgeLogAzure
import EdgeLogCore
import EdgeLogTestKit
import Testing

/// TLS is always verified: a server whose CA is not trusted gets nothing; `caFile` adds a private CA.
@Suite struct TLSTests {
    @Test func aPrivateCAIsTrustedThroughCaFileOnly() async throws {
        let server = try await IngestionServer.start(tls: true)
        defer { Task { await server.stop() } }
        let h = Harness(server: server)
        let caFile = h.dir.file("ca.pem")
        try FileSystem.writeAtomically(Array(TestCertificates.caPEM.utf8), to: caFile)
        let settings = h.settings(timeout: 5)
        let batch = SinkBatch(
            sequence: 1, payload: try TestCompressor().compress(Array("[{\"s\":\"a\",\"n\":0}]".utf8), level: 6), records: 1,
            format: .jsonArray)

        let untrusting = LogsIngestionSink(
            settings: settings, secret: Secret(IngestionServer.clientSecret),
            transport: try HTTPTransport(caFile: nil, proxy: nil, timeout: .seconds(5)), compressor: TestCompressor(),
            level: 6, logger: h.log.logger)
        guard case .retryable(let reason, _) = await untrusting.deliver(batch) else {
            Issue.record("an untrusted certificate must not deliver")
            return
        }
        #expect(reason.contains("no access token") && reason.contains("connection failed"))
        #expect(server.tokenRequests == 0 && server.records.isEmpty)

        let trusting = LogsIngestionSink(
            settings: settings, secret: Secret(IngestionServer.clientSecret),
            transport: try HTTPTransport(caFile: caFile, proxy: nil, timeout: .seconds(5)), compressor: TestCompressor(),
            level: 6, logger: h.log.logger)
        #expect(await trusting.deliver(batch) == .delivered)
        #expect(server.numbers(source: "a") == [0])
    }

    @Test func aCaFileThatIsNotPEMIsASetupError() throws {
        let dir = TemporaryDirectory()
        try FileSystem.writeAtomically(Array("not a certificate".utf8), to: dir.file("ca.pem"))
        #expect(throws: SinkSetupError.self) { try HTTPTransport(caFile: dir.file("ca.pem"), proxy: nil, timeout: .seconds(1)) }
    }
}
