import EdgeLogMetrics
import EdgeLogTestKit
import NIOCore
import Synchronization
import Testing

/// The real server on 127.0.0.1, spoken to over plain sockets.
@Suite struct MetricsServerTests {
    final class Scrapes: Sendable {
        let count = Mutex(0)
    }

    /// Every deadline is 10 minutes unless a test says otherwise: a loaded machine must not close a connection
    /// between two steps of a test.
    static var patient: MetricsServer.Limits {
        var limits = MetricsServer.Limits()
        limits.idleTimeout = .minutes(10)
        limits.requestTimeout = .minutes(10)
        limits.answerTimeout = .minutes(10)
        return limits
    }

    func withServer(
        limits: MetricsServer.Limits = patient, _ body: (MetricsServer, Scrapes) async throws -> Void
    ) async throws {
        let scrapes = Scrapes()
        let endpoints = MetricsEndpoints(
            metricsPath: "/metrics",
            metrics: {
                let n = scrapes.count.withLock { count in
                    count += 1
                    return count
                }
                return Array("edgelog_scrapes_total \(n)\n".utf8)
            },
            health: { [] })
        let server = try await MetricsServer.bind(host: "127.0.0.1", port: 0, endpoints: endpoints, limits: limits)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await server.run() }
            defer { group.cancelAll() }
            try await body(server, scrapes)
        }
    }

    @Test func answersGetAndKeepsTheConnection() async throws {
        try await withServer { server, _ in
            let c = try TCPTestConnection(port: server.port)
            let first = try await c.request("GET", "/metrics")
            #expect(first.status == 200)
            #expect(first.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(first.body == "edgelog_scrapes_total 1\n")
            // The same connection again (Prometheus keeps it).
            #expect(try await c.request("GET", "/metrics").body == "edgelog_scrapes_total 2\n")
            let health = try await c.request("GET", "/healthz")
            #expect(health.status == 200)
            #expect(health.body == "ok\n")
            #expect(try await c.request("GET", "/healthz", close: true).headers["connection"] == "close")
            #expect(await c.closedByServer())
        }
    }

    @Test func unknownPathsAndOtherMethods() async throws {
        try await withServer { server, scrapes in
            #expect(try await TCPTestConnection.get(port: server.port, "/").status == 404)
            #expect(try await TCPTestConnection.get(port: server.port, "/favicon.ico").status == 404)
            let post = try await TCPTestConnection.get(port: server.port, "/metrics", method: "POST")
            #expect(post.status == 405)
            #expect(post.headers["allow"] == "GET")
            #expect(try await TCPTestConnection.get(port: server.port, "/healthz", method: "PUT").status == 405)
            #expect(scrapes.count.withLock { $0 } == 0)
        }
    }

    @Test func oversizedRequestsAreRefusedAndClosed() async throws {
        var limits = Self.patient
        limits.maxHeaderBytes = 1024
        limits.maxBodyBytes = 1024
        try await withServer(limits: limits) { server, scrapes in
            let headers = try TCPTestConnection(port: server.port)
            try headers.send(
                "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: \(String(repeating: "a", count: 4000))\r\n\r\n")
            #expect(try await headers.readResponse().status == 400)
            #expect(await headers.closedByServer())

            let body = try TCPTestConnection(port: server.port)
            try body.send(
                "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "b", count: 5000)
            )
            #expect(try await body.readResponse().status == 413)
            #expect(await body.closedByServer())
            #expect(scrapes.count.withLock { $0 } == 0)
        }
    }

    @Test func idleConnectionsAreClosed() async throws {
        var limits = MetricsServer.Limits()
        limits.idleTimeout = .milliseconds(300)
        try await withServer(limits: limits) { server, _ in
            let c = try TCPTestConnection(port: server.port, timeoutSeconds: 30)
            #expect(try await c.request("GET", "/healthz").status == 200)
            // Nothing more is sent: the server closes it (the read would time out after 30 s otherwise).
            #expect(await c.closedByServer())
        }
    }

    /// A full server makes room: the connection longest in its phase (here the first, idle since its answer)
    /// is closed for the new one.
    @Test func aNewConnectionAlwaysGetsASlot() async throws {
        var limits = Self.patient
        limits.maxConnections = 2
        try await withServer(limits: limits) { server, _ in
            let a = try TCPTestConnection(port: server.port)
            #expect(try await a.request("GET", "/healthz").status == 200)
            let b = try TCPTestConnection(port: server.port)
            #expect(try await b.request("GET", "/healthz").status == 200)
            let c = try TCPTestConnection(port: server.port)
            #expect(try await c.request("GET", "/healthz").status == 200)
            #expect(await a.closedByServer())
            #expect(try await b.request("GET", "/healthz").status == 200)
            #expect(server.stats.evicted == 1)
        }
    }

    @Test func closeFreesThePortAndEndsRun() async throws {
        let endpoints = MetricsEndpoints(metricsPath: "/m", metrics: { [] }, health: { [] })
        let server = try await MetricsServer.bind(host: "127.0.0.1", port: 0, endpoints: endpoints)
        let port = server.port
        let running = Task { await server.run() }
        let idle = try TCPTestConnection(port: port)
        #expect(try await idle.request("GET", "/m").status == 200)
        await server.close()
        await running.value
        #expect(await idle.closedByServer())
        #expect(throws: (any Error).self) { try TCPTestConnection(port: port) }
        // The port can be bound again at once.
        let again = try await MetricsServer.bind(host: "127.0.0.1", port: port, endpoints: endpoints)
        let runningAgain = Task { await again.run() }
        #expect(try await TCPTestConnection.get(port: port, "/m").status == 200)
        await again.close()
        await runningAgain.value
    }
}
