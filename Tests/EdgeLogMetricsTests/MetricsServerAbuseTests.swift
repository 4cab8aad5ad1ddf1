import EdgeLogMetrics
import EdgeLogTestKit
import Foundation
import Synchronization
import Testing

/// What a hostile or broken client can do to the metrics server over real sockets: pipeline requests without
/// reading the answers, trickle a request head, hold every slot. The server must stay bounded in memory and
/// `/healthz` must keep answering.
@Suite struct MetricsServerAbuseTests {
    final class Renders: Sendable {
        let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
    }

    /// A server whose `/metrics` answer is `answerBytes` long.
    func withServer(
        limits: MetricsServer.Limits, answerBytes: Int = 64,
        _ body: (MetricsServer, Renders) async throws -> Void
    ) async throws {
        let renders = Renders()
        let answer = [UInt8](repeating: UInt8(ascii: "x"), count: answerBytes)
        let endpoints = MetricsEndpoints(
            metricsPath: "/metrics",
            metrics: {
                renders.count.withLock { $0 += 1 }
                return answer
            }, health: { [] })
        let server = try await MetricsServer.bind(host: "127.0.0.1", port: 0, endpoints: endpoints, limits: limits)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await server.run() }
            defer { group.cancelAll() }
            try await body(server, renders)
        }
    }

    /// A client pipelining 2,000 requests for a 128 KiB answer (256 MiB of answers in all) and reading none: the
    /// server answers only as fast as the socket takes the answers, holds at most one answer for the connection,
    /// closes it (too many requests ahead of their answers), and answers `/healthz` on another connection.
    @Test func aPipeliningClientThatNeverReadsIsNotRead() async throws {
        let answerBytes = 128 << 10
        let total = 2000
        try await withServer(limits: MetricsServerTests.patient, answerBytes: answerBytes) { server, renders in
            let client = try RawTCPClient(port: server.port)
            let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            var all: [UInt8] = []
            for _ in 0..<total { all += request }
            // As much as the socket takes (80 KB: all of it whether the server reads or not).
            #expect(client.sendAvailable(all) > 0)
            try await eventually("the connection closed") { server.stats.overQueued + server.stats.timedOut >= 1 }
            #expect(try await TCPTestConnection.get(port: server.port, "/healthz").status == 200)
            let stats = server.stats
            #expect(stats.maxBufferedAnswerBytes <= answerBytes + 256, "one answer at a time per connection")
            #expect(renders.value < total, "answers stopped when the client stopped taking them")
            #expect(renders.value * answerBytes < 64 << 20)
            try await eventually("no answer is held after the close") { server.stats.bufferedAnswerBytes == 0 }
        }
    }

    /// A client that asks for a few large answers and takes none: nothing more is read from it, one answer waits
    /// for the socket, and the connection is closed when the client has not taken it within `answerTimeout`.
    @Test func anAnswerTheClientDoesNotTakeClosesTheConnectionAtItsDeadline() async throws {
        var limits = MetricsServerTests.patient
        limits.answerTimeout = .seconds(1)
        let answerBytes = 4 << 20
        try await withServer(limits: limits, answerBytes: answerBytes) { server, renders in
            let client = try RawTCPClient(port: server.port)
            let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            var ten: [UInt8] = []
            for _ in 0..<10 { ten += request }
            #expect(client.sendAvailable(ten) == ten.count)
            try await eventually("the stalled connection closed after its answer deadline") { server.stats.timedOut == 1 }
            #expect(renders.value < 10, "the kernel's buffers cannot take 40 MiB: the answers stopped")
            #expect(server.stats.maxBufferedAnswerBytes <= answerBytes + 256)
            #expect(client.peerClosed())
            #expect(try await TCPTestConnection.get(port: server.port, "/healthz").status == 200)
        }
    }

    /// Requests arriving ahead of their answers beyond `maxQueuedRequests` close the connection. The client reads
    /// nothing and the answer is larger than the kernel's socket buffers can take, so the first answer is still out
    /// when the requests behind it are decoded (a client that keeps up would get every answer in time, and rightly
    /// keep its connection).
    @Test func tooManyRequestsAheadCloseTheConnection() async throws {
        var limits = MetricsServerTests.patient
        limits.maxQueuedRequests = 4
        try await withServer(limits: limits, answerBytes: 32 << 20) { server, renders in
            let client = try RawTCPClient(port: server.port)
            let requests = Array(String(repeating: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", count: 40).utf8)
            #expect(client.sendAvailable(requests) == requests.count)
            try await eventually("the connection closed for the requests queued ahead") { server.stats.overQueued == 1 }
            try await eventually("the client sees the close") { client.peerClosed() }
            // The first answer is made on the blocking pool, and only that one.
            try await eventually("the first answer made") { renders.value >= 1 }
            #expect(renders.value == 1)
        }
    }

    /// A request head that trickles in, one byte every 50 ms, is cut off at `requestTimeout` after the connection
    /// started: bytes arriving do not extend the deadline (an idle timer would never fire).
    @Test func aTricklingRequestHeadIsCutOffAtItsDeadline() async throws {
        var limits = MetricsServerTests.patient
        limits.requestTimeout = .milliseconds(500)
        try await withServer(limits: limits) { server, _ in
            let client = try RawTCPClient(port: server.port)
            let head = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8) + [UInt8](repeating: 0x61, count: 2000)
            var closed = false
            // The client's own pace (the behaviour under test), for at most 100 s of bytes.
            for byte in head {
                if client.peerClosed() {
                    closed = true
                    break
                }
                guard client.sendAvailable([byte]) == 1 else {
                    closed = true
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(closed, "the server closed the connection")
            #expect(server.stats.timedOut == 1)
        }
    }

    /// Slow-loris: every slot held by a connection that sent part of a head and nothing more. A new `/healthz`
    /// still answers (the oldest slow connection gives up its slot), and again with the slots filled anew.
    @Test func connectionsHoldingEverySlotDoNotLockOutHealthChecks() async throws {
        var limits = MetricsServerTests.patient
        limits.maxConnections = 16
        try await withServer(limits: limits) { server, _ in
            var slow: [RawTCPClient] = []
            for _ in 0..<16 {
                let c = try RawTCPClient(port: server.port)
                #expect(c.sendAvailable(Array("GET /metr".utf8)) == 9)
                slow.append(c)
            }
            try await eventually("every slot taken") { server.stats.accepted == 16 && server.stats.open == 16 }
            for round in 1...3 {
                let health = try await TCPTestConnection.get(port: server.port, "/healthz")
                #expect(health.status == 200)
                #expect(health.body == "ok\n")
                #expect(server.stats.evicted == round)
                // The slot the health check freed is taken by another slow connection.
                let c = try RawTCPClient(port: server.port)
                #expect(c.sendAvailable(Array("GET /metr".utf8)) == 9)
                slow.append(c)
                try await eventually("every slot taken again") {
                    server.stats.accepted == 16 + 2 * round && server.stats.open == 16
                }
            }
            // Three of the slow connections made the room.
            try await eventually("three slow connections closed") { slow.filter { $0.peerClosed() }.count == 3 }
        }
    }
}
