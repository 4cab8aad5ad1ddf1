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
        // Deadlines far beyond a handshake: on a loaded machine a short one would end the call before the
        // certificate is refused, and the reason would be a timeout.
        let settings = h.settings(timeout: 60)
        let batch = SinkBatch(
            sequence: 1, payload: try TestCompressor().compress(Array("[{\"s\":\"a\",\"n\":0}]".utf8), level: 6),
            records: 1,
            format: .jsonArray)

        let untrusting = LogsIngestionSink(
            settings: settings, secret: Secret(IngestionServer.clientSecret),
            transport: try HTTPTransport(caFile: nil, proxy: nil, timeout: .seconds(60)), compressor: TestCompressor(),
            level: 6, logger: h.log.logger)
        guard case .retryable(let reason, _) = await untrusting.deliver(batch) else {
            Issue.record("an untrusted certificate must not deliver")
            return
        }
        #expect(reason.contains("no access token") && reason.contains("connection failed"))
        #expect(server.tokenRequests == 0 && server.records.isEmpty)

        let trusting = LogsIngestionSink(
            settings: settings, secret: Secret(IngestionServer.clientSecret),
            transport: try HTTPTransport(caFile: caFile, proxy: nil, timeout: .seconds(60)),
            compressor: TestCompressor(),
            level: 6, logger: h.log.logger)
        #expect(await trusting.deliver(batch) == .delivered)
        #expect(server.numbers(source: "a") == [0])
    }

    @Test func aCaFileThatIsNotPEMIsASetupError() throws {
        let dir = TemporaryDirectory()
        try FileSystem.writeAtomically(Array("not a certificate".utf8), to: dir.file("ca.pem"))
        #expect(throws: SinkSetupError.self) {
            try HTTPTransport(caFile: dir.file("ca.pem"), proxy: nil, timeout: .seconds(1))
        }
    }
}

/// https calls go through `https_proxy` with CONNECT (and its credentials); the tunnel refused is retryable.
@Suite struct ProxyRoutingTests {
    @Test func httpsCallsTunnelThroughTheProxy() async throws {
        let proxyServer = try await IngestionServer.start()
        defer { Task { await proxyServer.stop() } }
        let h = Harness(server: proxyServer)
        let proxy = try #require(
            try ProxySettings.fromEnvironment([
                "https_proxy": "http://edge:pa%3Ass@127.0.0.1:\(proxyServer.port)", "no_proxy": "localhost,.corp",
            ]))
        var settings = h.settings(timeout: 5)
        settings.endpoint = "https://edgelog-dcr.westeurope-1.ingest.monitor.azure.com"
        settings.authorityHost = "https://login.microsoftonline.com"
        let transport = try HTTPTransport(caFile: nil, proxy: proxy, timeout: .seconds(5))
        #expect(transport.usesProxy(for: EndpointURL(settings.endpoint)!))
        #expect(!transport.usesProxy(for: EndpointURL("https://collector.corp/in")!))
        #expect(!transport.usesProxy(for: EndpointURL(proxyServer.url)!))
        let sink = LogsIngestionSink(
            settings: settings, secret: Secret(IngestionServer.clientSecret), transport: transport,
            compressor: TestCompressor(), level: 6, logger: h.log.logger)
        let batch = SinkBatch(
            sequence: 1, payload: try TestCompressor().compress(Array("[{\"n\":0}]".utf8), level: 6), records: 1,
            format: .jsonArray)
        guard case .retryable = await sink.deliver(batch) else {
            Issue.record("a refused tunnel is retryable")
            return
        }
        let connects = proxyServer.state.withLock { $0.connects }
        #expect(connects.first?.0 == "login.microsoftonline.com:443")
        let auth = connects.first?.1.first { $0.0.lowercased() == "proxy-authorization" }?.1
        #expect(auth == "Basic ZWRnZTpwYTpzcw==")  // edge:pa:ss
        #expect(!h.log.all.joined().contains("pa:ss"))
    }
}
