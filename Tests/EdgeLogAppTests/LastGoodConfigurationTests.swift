import EdgeLogApp
import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Logging
import Testing

/// A configuration that cannot be applied never stops the supervisor: the last one that ran well runs instead,
/// or nothing runs and health says why; the refused one is tried again.
@Suite struct LastGoodConfigurationTests {
    struct Setup {
        let dir = TemporaryDirectory()
        let container: DockerContainerFixture
        var good = Configuration()

        init() throws {
            container = try DockerContainerFixture(root: try dir.makeDirectory("containers"), name: "app")
            good.stateDirectory = dir.path + "/state"
            good.docker.containersDirectory = dir.path + "/containers"
            good.docker.excludeSelf = false
            good.docker.pollIntervalSeconds = 0.05
            good.batch.flushIntervalSeconds = 0.05
            good.sink.directory = dir.path + "/out"
            good.metrics.enabled = false
        }

        /// `good` with an http sink whose header comes from a variable that is not set.
        var unbuildable: Configuration {
            var c = good
            c.sink.type = .http
            c.sink.url = "http://127.0.0.1:9/collect?token=t0k3n"
            c.sink.headersFromEnvironment = ["Authorization": "EDGELOG_TEST_VARIABLE_NOT_SET"]
            return c
        }

        func supervisor(_ c: Configuration) -> Supervisor {
            Supervisor(
                application: Application(configuration: c, environment: [:], logger: Logger(label: "t")),
                retryInitial: .milliseconds(50), retryMaximum: .milliseconds(200))
        }

        func shipped() -> Int { (try? BinaryHarness.shipped(dir.path + "/out").count) ?? 0 }
    }

    @Test func theStartupConfigurationFallsBackToTheLastGoodOne() async throws {
        let s = try Setup()
        // A first run saves the configuration that ran, private.
        let first = s.supervisor(s.good)
        let running = Task { try await first.run() }
        // Saved once the pipeline runs (just after it is in place).
        try await eventually("a pipeline and the configuration saved") {
            first.pipeline != nil && (try? LastGoodConfiguration.load(stateDirectory: s.good.stateDirectory)) != nil
        }
        let saved = try #require(try LastGoodConfiguration.load(stateDirectory: s.good.stateDirectory))
        #expect(saved.configuration == s.good)
        #expect(saved.origin == .file)
        #expect(try #require(try FileSystem.status(LastGoodConfiguration.path(stateDirectory: s.good.stateDirectory))).st_mode & 0o777 == 0o600)
        first.shutdown()
        try await running.value

        // Started with a configuration whose sink cannot be built: the last good one runs, the new one is retried.
        let second = s.supervisor(s.unbuildable)
        let again = Task { try await second.run() }
        try await eventually("the last good configuration runs") { second.pipeline?.configuration == s.good }
        #expect(second.inForce?.lastGood == true)
        let pending = try #require(second.pending)
        #expect(pending.origin == .file)
        #expect(pending.problems.map(\.path) == ["sink.headersFromEnvironment.Authorization"])
        try await eventually("retried") { (second.pending?.attempts ?? 0) >= 3 }
        try s.container.log(["shipped by the last good configuration"])
        try await eventually("shipped") { s.shipped() == 1 }
        // The refused configuration did not replace the saved one.
        #expect(try LastGoodConfiguration.load(stateDirectory: s.good.stateDirectory)?.configuration == s.good)
        second.shutdown()
        try await again.value
    }

    @Test func withoutALastGoodConfigurationNothingRunsAndHealthSaysWhy() async throws {
        let s = try Setup()
        let supervisor = s.supervisor(s.unbuildable)
        let running = Task { try await supervisor.run() }
        try await eventually("refused and retried") { (supervisor.pending?.attempts ?? 0) >= 2 }
        #expect(supervisor.pipeline == nil)
        #expect(supervisor.inForce == nil)
        let reason = try #require(supervisor.notRunningReason)
        #expect(reason.contains("EDGELOG_TEST_VARIABLE_NOT_SET"))
        #expect(!reason.contains("t0k3n"))
        // A configuration that can run is applied, and the retries stop.
        #expect(await supervisor.apply(s.good).isEmpty)
        try await eventually("a pipeline") { supervisor.pipeline != nil }
        #expect(supervisor.pending == nil)
        #expect(supervisor.notRunningReason == nil)
        supervisor.shutdown()
        try await running.value
    }

    @Test func anInvalidConfigFileRunsTheLastGoodConfiguration() throws {
        let s = try Setup()
        try LastGoodConfiguration.save(
            .init(configuration: s.good, origin: .desired(version: 4), savedMillis: 1), stateDirectory: s.good.stateDirectory)
        let path = s.dir.file("config.json")
        try #"{"stateDirectory": "\#(s.good.stateDirectory)", "batch": {"maxBytes": "lots"}}"#.write(
            toFile: path, atomically: true, encoding: .utf8)
        let (configuration, problems) = try ConfigurationLoader.loadForRun(path: path)
        #expect(configuration == s.good)
        #expect(problems.map(\.path) == ["batch.maxBytes"])
        // Without a saved configuration the file's problems stop it, as before.
        try FileManager.default.removeItem(atPath: LastGoodConfiguration.path(stateDirectory: s.good.stateDirectory))
        #expect(throws: ConfigurationLoader.Invalid.self) { try ConfigurationLoader.loadForRun(path: path) }
    }

    @Test func aDamagedSavedConfigurationIsNotUsed() throws {
        let s = try Setup()
        try FileSystem.makeDirectories(s.good.stateDirectory)
        let path = LastGoodConfiguration.path(stateDirectory: s.good.stateDirectory)
        for text in [
            "garbage", #"{"version": 2}"#, #"{"version": 1, "savedAtMillis": -5, "origin": "file", "configuration": {}}"#,
            #"{"version": 1, "savedAtMillis": 5, "origin": "desired", "desiredVersion": -1, "configuration": {}}"#,
            #"{"version": 1, "savedAtMillis": 5, "origin": "file", "configuration": {"batch": {"maxBytes": -1}}}"#,
            #"{"version": 1, "savedAtMillis": 5, "origin": "file", "configuration": {"stateDirectory": "/elsewhere"}}"#,
        ] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            #expect(throws: LastGoodConfiguration.Unusable.self, "\(text)") {
                try LastGoodConfiguration.load(stateDirectory: s.good.stateDirectory)
            }
        }
    }
}
