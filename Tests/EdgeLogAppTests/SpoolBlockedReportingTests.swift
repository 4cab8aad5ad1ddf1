import EdgeLogCore
import EdgeLogMetrics
import EdgeLogTestKit
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import EdgeLogApp

/// A spool that cannot be written shows in /metrics, in the twin's health and, after a while, in /healthz.
@Suite struct SpoolBlockedReportingTests {
    let now: Int64 = 1_800_000_000_000

    @Test func healthSaysSoAfterThirtySeconds() {
        var i = HealthRules.Inputs(pipelineRunning: true, nowMillis: now)
        i.spoolBlocked = SpoolWriteBlock(
            sinceMillis: now - 29_000, reason: "write /s/.tmp-x: No space left on device (errno 28)", attempts: 9, diskFull: true)
        #expect(HealthRules.problems(i).isEmpty, "a moment of a full disk is not a problem")
        i.spoolBlocked?.sinceMillis = now - 31_000
        #expect(
            HealthRules.problems(i) == [
                "the spool cannot be written for 31 s (the disk is full: write /s/.tmp-x: No space left on device (errno 28)); reading waits, nothing is lost while the sources keep their files"
            ])
        i.spoolBlocked?.diskFull = false
        #expect(HealthRules.problems(i).first?.contains("(writes fail: ") == true)
    }

    @Test func metricsAndTwinHealthShowTheBlockedSpool() async throws {
        let dir = TemporaryDirectory()
        let containers = try dir.makeDirectory("containers")
        let container = try DockerContainerFixture(root: containers, name: "app")
        var c = Configuration()
        c.stateDirectory = dir.path + "/state"
        c.docker.containersDirectory = containers
        c.docker.excludeSelf = false
        c.batch.flushIntervalSeconds = 0.05
        c.metrics.enabled = false
        c.sink.directory = dir.path + "/out"
        let supervisor = Supervisor(configuration: c, environment: [:], logger: Logger(label: "blocked"))
        let run = Task { try await supervisor.run() }
        try await eventually("the pipeline") { supervisor.pipeline != nil }
        let pipeline = try #require(supervisor.pipeline)
        // The spool folder becomes a file: every write fails (ENOTDIR), as a broken disk would.
        #expect(rmdir(c.stateDirectory + "/spool") == 0)
        try FileSystem.writeAtomically([0], to: c.stateDirectory + "/spool")
        try container.log(["waits"])
        try await eventually("the write fails") { pipeline.spool.writeBlocked != nil }

        let collector = MetricsCollector(supervisor: supervisor, counters: pipeline.counters, twin: nil, host: HostIdentity(computer: "t"))
        let text = String(decoding: PrometheusText.render(collector.snapshot()), as: UTF8.self)
        let blockedLine = text.split(separator: "\n").first { $0.hasPrefix("edgelog_spool_write_blocked{") }
        #expect(blockedLine?.hasSuffix(" 1") == true)
        let episodes = text.split(separator: "\n").first { $0.hasPrefix("edgelog_spool_write_blocks_total{") }
        #expect(episodes?.hasSuffix(" 1") == true)
        let health = TwinHealth.document(supervisor: supervisor)
        #expect(health["spool"]?["writeBlocked"]?["diskFull"] == .bool(false))
        #expect(health["spool"]?["writeBlocked"]?["reason"]?.stringValue?.contains("Not a directory") == true)
        #expect(collector.health().isEmpty, "not yet 30 s")
        #expect(collector.health(nowMillis: FileSystem.nowMillis() + 31_000).contains { $0.hasPrefix("the spool cannot be written") })

        // The folder is back: the batch is written, the state clears, the line is delivered.
        try FileSystem.remove(c.stateDirectory + "/spool")
        try FileSystem.makeDirectories(c.stateDirectory + "/spool")
        try await eventually("writable again") { pipeline.spool.writeBlocked == nil }
        try await eventually("delivered") { pipeline.counters[.recordsDelivered] == 1 }
        supervisor.shutdown()
        try await run.value
    }
}
