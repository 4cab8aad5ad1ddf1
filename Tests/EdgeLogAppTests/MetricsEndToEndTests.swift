import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// The built binary serving `/metrics` and `/healthz` on a free port, scraped over TCP, and `edgelog healthcheck`.
@Suite(.serialized) struct MetricsEndToEndTests {
    static let environment = ["IOTEDGE_IOTHUBHOSTNAME": "hub-1.azure-devices.net", "IOTEDGE_DEVICEID": "pi-7"]

    struct Setup {
        let dir: TemporaryDirectory
        let config: String
        let container: DockerContainerFixture
        let port: Int
    }

    /// One container with `lines` lines; `sink` and `metrics` are JSON members for those sections.
    func setUp(lines: Int, sink: String? = nil, metrics: String = "") throws -> Setup {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        let container = try DockerContainerFixture(root: root, name: "module0")
        try container.log((0..<lines).map { "line \($0)" })
        let port = try freePort()
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state",
             "docker": {"containersDirectory": "\(root)", "excludeSelf": false, "pollIntervalSeconds": 0.1},
             "batch": {"flushIntervalSeconds": 0.1},
             "sink": \(sink ?? #"{"type": "file", "directory": "\#(dir.path)/out"}"#),
             "metrics": {"host": "127.0.0.1", "port": \(port)\(metrics)}}
            """)
        return Setup(dir: dir, config: config, container: container, port: port)
    }

    @Test func countersMoveAsLinesAreReadAndShipped() async throws {
        let s = try setUp(lines: 100)
        let running = try BinaryHarness.start(["run", "--config", s.config], environment: Self.environment)
        try await eventually("the first lines shipped") {
            (try? await ScrapedMetrics.scrape(port: s.port))?.value("edgelog_records_shipped_total") == 100
        }
        let first = try await ScrapedMetrics.scrape(port: s.port)
        // Every sample carries the device's labels and this process's instance number.
        let instance = try #require(first.samples.first?.labels["instance_number"])
        #expect(
            instance.range(
                of: #"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"#,
                options: .regularExpression) != nil)
        for sample in first.samples {
            #expect(sample.labels["iothub"] == "hub-1.azure-devices.net", "\(sample.name)")
            #expect(sample.labels["edge_device"] == "pi-7", "\(sample.name)")
            #expect(sample.labels["instance_number"] == instance, "\(sample.name)")
        }
        #expect(first.types["edgelog_records_read_total"] == "counter")
        #expect(first.types["edgelog_spool_bytes"] == "gauge")
        #expect(first.value("edgelog_records_read_total", ["source": "docker"]) == 100)
        #expect(first.value("edgelog_records_read_total", ["source": "journal"]) == 0)
        let bytesRead = try #require(first.value("edgelog_read_bytes_total", ["source": "docker"]))
        #expect(bytesRead > 100 * 10)
        let bytesShipped = try #require(first.value("edgelog_shipped_bytes_total"))
        #expect(bytesShipped > 0)
        #expect(first.value("edgelog_records_dropped_total", ["reason": "malformed"]) == 0)
        #expect(first.value("edgelog_healthy") == 1)
        #expect(try #require(first.value("edgelog_process_resident_memory_bytes")) > 1_000_000)
        #expect(try #require(first.value("edgelog_process_open_fds")) > 3)
        // The file sink makes no HTTP calls: no upload families.
        #expect(first.types["edgelog_upload_requests_total"] == nil)

        // More lines: the counters follow, and the checkpoint catches up with the end of the file.
        try s.container.log((100..<150).map { "line \($0)" })
        try await eventually("the new lines shipped") {
            (try? await ScrapedMetrics.scrape(port: s.port))?.value("edgelog_records_shipped_total") == 150
        }
        let second = try await ScrapedMetrics.scrape(port: s.port)
        #expect(second.value("edgelog_records_read_total", ["source": "docker"]) == 150)
        #expect(try #require(second.value("edgelog_read_bytes_total", ["source": "docker"])) > bytesRead)
        #expect(try #require(second.value("edgelog_shipped_bytes_total")) > bytesShipped)
        #expect(try #require(second.value("edgelog_batches_shipped_total")) >= 2)
        try await eventually("no lag") {
            let m = try? await ScrapedMetrics.scrape(port: s.port)
            return m?.value("edgelog_checkpoint_lag_bytes", ["container": "module0"]) == 0
                && m?.value("edgelog_spool_batches") == 0
        }

        // Health, the healthcheck command, and what is not served.
        let health = try await TCPTestConnection.get(port: s.port, "/healthz")
        #expect(health.status == 200)
        #expect(health.body == "ok\n")
        let check = try BinaryHarness.run(["healthcheck", "--config", s.config])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout == "ok\n")
        #expect(try await TCPTestConnection.get(port: s.port, "/").status == 404)
        #expect(try await TCPTestConnection.get(port: s.port, "/metrics", method: "POST").status == 405)
        #expect(try await TCPTestConnection.get(port: s.port, "/healthz", method: "DELETE").headers["allow"] == "GET")

        running.signal(SIGTERM)
        #expect(running.wait() == 0)
        #expect(running.stderr.contains("metrics: serving http://127.0.0.1:\(s.port)/metrics and /healthz"))
        // Nothing answers any more: unhealthy.
        let after = try BinaryHarness.run(["healthcheck", "--config", s.config])
        #expect(after.status == 1)
        #expect(after.stderr.contains("cannot connect to 127.0.0.1:\(s.port)"), "\(after.stderr)")
    }

    @Test func unhealthyWhileTheSinkFailsWithDataSpooled() async throws {
        // An http sink whose port nothing listens on: every call fails with a connection error.
        let closed = try freePort()
        let s = try setUp(
            lines: 20,
            sink: #"{"type": "http", "url": "http://127.0.0.1:\#(closed)/ingest", "shutdownGraceSeconds": 0.2}"#,
            metrics: #", "sinkFailureSeconds": 1"#)
        let running = try BinaryHarness.start(["run", "--config", s.config], environment: Self.environment)
        // (It answers 503 for a moment at the start too, before the pipeline runs: wait for the sink's reason.)
        try await eventually("/healthz turns 503 for the sink") {
            let answer = try? await TCPTestConnection.get(port: s.port, "/healthz")
            return answer?.status == 503 && answer?.body.hasPrefix("the http sink has failed") == true
        }
        let health = try await TCPTestConnection.get(port: s.port, "/healthz")
        #expect(health.body.hasPrefix("the http sink has failed every attempt for "), "\(health.body)")
        #expect(health.body.contains("(metrics.sinkFailureSeconds is 1) with "), "\(health.body)")
        #expect(health.body.contains(" batch(es) spooled; last error: connection failed"), "\(health.body)")
        let check = try BinaryHarness.run(["healthcheck", "--config", s.config])
        #expect(check.status == 1)
        #expect(
            check.stderr.hasPrefix("/healthz answered 503: the http sink has failed every attempt"), "\(check.stderr)")

        let m = try await ScrapedMetrics.scrape(port: s.port)
        #expect(m.value("edgelog_healthy") == 0)
        #expect(try #require(m.value("edgelog_spool_batches")) >= 1)
        #expect(m.value("edgelog_spool_records") == 20)
        #expect(try #require(m.value("edgelog_sink_failing_seconds")) >= 1)
        #expect(m.value("edgelog_records_shipped_total") == 0)
        #expect(try #require(m.value("edgelog_upload_requests_total", ["code": "connection_error"])) >= 1)
        #expect(try #require(m.value("edgelog_upload_retries_total")) >= 1)
        #expect(m.types["edgelog_upload_duration_seconds"] == "histogram")
        let calls = try #require(m.value("edgelog_upload_duration_seconds_count"))
        #expect(m.value("edgelog_upload_duration_seconds_bucket", ["le": "+Inf"]) == calls)
        running.signal(SIGTERM)
        #expect(running.wait() == 0)
    }

    @Test func withMetricsDisabledTheHealthcheckFallsBackToTheStateDirectory() async throws {
        let s = try setUp(lines: 5, metrics: #", "enabled": false"#)
        let running = try BinaryHarness.start(["run", "--config", s.config], environment: Self.environment)
        try await eventually("shipped") { (try? BinaryHarness.shipped(s.dir.path + "/out").count) == 5 }
        try await eventually("the endpoint file says disabled") {
            (try? FileSystem.read(s.dir.path + "/state/metrics-endpoint.json")).flatMap { $0 }.map {
                String(decoding: $0, as: UTF8.self).contains(#""enabled":false"#)
            } == true
        }
        #expect(throws: (any Error).self) { try TCPTestConnection(port: s.port) }
        let check = try BinaryHarness.run(["healthcheck", "--config", s.config])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.hasPrefix("metrics are disabled; the state directory"))
        running.signal(SIGTERM)
        #expect(running.wait() == 0)
        #expect(!running.stderr.contains("not implemented"))

        // A state directory that cannot be read fails the fallback.
        let broken = s.dir.file("broken.json")
        try #"{"stateDirectory": "\#(s.config)", "metrics": {"enabled": false}}"#.write(
            toFile: broken, atomically: true, encoding: .utf8)
        let bad = try BinaryHarness.run(["healthcheck", "--config", broken])
        #expect(bad.status == 1)
        #expect(bad.stderr.hasPrefix("metrics are disabled, and the state directory cannot be read"), "\(bad.stderr)")
    }
}
