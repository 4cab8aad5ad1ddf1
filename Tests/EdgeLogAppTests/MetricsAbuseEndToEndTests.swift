import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// The built binary's metrics port against clients that misbehave: its resident memory stays bounded and
/// `edgelog healthcheck` (the image's HEALTHCHECK) keeps passing.
@Suite(.serialized) struct MetricsAbuseEndToEndTests {
    func start() async throws -> (ChildProcess, TemporaryDirectory, String, Int) {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        let container = try DockerContainerFixture(root: root, name: "module0")
        try container.log((0..<100).map { "line \($0)" })
        let port = try freePort()
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state",
             "docker": {"containersDirectory": "\(root)", "excludeSelf": false},
             "sink": {"type": "file", "directory": "\(dir.path)/out"},
             "metrics": {"host": "127.0.0.1", "port": \(port)}}
            """)
        let process = try BinaryHarness.start(["run", "--config", config])
        try await eventually("serving") {
            (try? await ScrapedMetrics.scrape(port: port))?.value("edgelog_records_shipped_total") == 100
        }
        return (process, dir, config, port)
    }

    /// Resident memory of `pid` in bytes (VmRSS).
    static func residentBytes(_ pid: pid_t) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kB = line.split(separator: " ").compactMap { Int($0) }.first
            return kB.map { $0 * 1024 }
        }
        return nil
    }

    /// 20,000 pipelined `GET /metrics` (each answer about 10 KB: 200 MB of answers) on one connection that never
    /// reads: EdgeLog stops reading that connection, its memory does not follow, and health checks still pass.
    @Test func aPipeliningClientThatNeverReadsCannotExhaustMemory() async throws {
        let (process, dir, config, port) = try await start()
        defer {
            process.signal(SIGKILL)
            process.wait()
            _ = dir
        }
        let before = try #require(Self.residentBytes(process.pid))
        let client = try RawTCPClient(port: port)
        let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        var all: [UInt8] = []
        for _ in 0..<20_000 { all += request }
        // As much as the socket takes: everything if EdgeLog reads it all, less once it stops reading.
        let sent = client.sendAvailable(all)
        #expect(sent > 0)
        // Another connection is answered meanwhile, and so is the healthcheck.
        #expect(try await TCPTestConnection.get(port: port, "/healthz").status == 200)
        let check = try BinaryHarness.run(["healthcheck", "--config", config])
        #expect(check.status == 0, "\(check.stderr)")
        let after = try #require(Self.residentBytes(process.pid))
        #expect(after - before < 32 << 20, "resident memory grew from \(before >> 20) MiB to \(after >> 20) MiB")
        _ = client
    }

    /// 16 connections that each sent part of a request head and nothing more hold every slot: the healthcheck
    /// still gets an answer.
    @Test func slowConnectionsHoldingEverySlotDoNotFailTheHealthcheck() async throws {
        let (process, dir, config, port) = try await start()
        defer {
            process.signal(SIGKILL)
            process.wait()
            _ = dir
        }
        var slow: [TCPTestConnection] = []
        for _ in 0..<16 {
            let c = try TCPTestConnection(port: port)
            try c.send("GET /hea")
            slow.append(c)
        }
        for _ in 0..<3 {
            let check = try BinaryHarness.run(["healthcheck", "--config", config])
            #expect(check.status == 0, "\(check.stderr)")
        }
        #expect(slow.count == 16)
    }
}
