import EdgeLogApp
import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Logging
import Testing

@Suite struct SupervisorTests {
    @Test func aLiveChangeTakesEffectWithoutLosingOrRepeatingRecords() async throws {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        var config = Configuration()
        config.stateDirectory = dir.path + "/state"
        config.docker.containersDirectory = root
        config.docker.excludeSelf = false
        config.docker.pollIntervalSeconds = 0.05
        config.batch.flushIntervalSeconds = 0.05
        config.sink.directory = dir.path + "/out"
        let supervisor = Supervisor(configuration: config, environment: [:], logger: Logger(label: "t"))
        let task = Task { try await supervisor.run() }
        let a = try DockerContainerFixture(root: root, name: "alpha")
        let b = try DockerContainerFixture(root: root, name: "beta")
        try a.log((0..<100).map { "a \($0)" })
        try b.log((0..<100).map { "b \($0)" })
        let out = dir.path + "/out"
        try await eventually("both containers shipped") { (try? BinaryHarness.shipped(out).count) == 200 }

        var changed = config
        changed.docker.exclude = ["beta"]
        #expect(await supervisor.apply(changed).isEmpty)
        #expect(supervisor.generation == 1)
        // The change takes effect once the old pipeline has stopped and the new one runs.
        try await eventually("the new pipeline") { supervisor.pipeline?.configuration == changed }
        try a.log((100..<200).map { "a \($0)" })
        try b.log((100..<200).map { "b \($0)" })
        try await eventually("alpha's new lines") { (try? BinaryHarness.shipped(out).count) == 300 }

        var moved = changed
        moved.stateDirectory = dir.path + "/elsewhere"
        let refused = await supervisor.apply(moved)
        #expect(refused.map(\.path) == ["stateDirectory"])
        #expect(supervisor.configuration == changed)

        supervisor.shutdown()
        try await task.value
        let messages = try BinaryHarness.shipped(out).map { $0["Message"]!.stringValue! }
        #expect(messages.filter { $0.hasPrefix("a ") }.sorted { Int($0.dropFirst(2))! < Int($1.dropFirst(2))! } == (0..<200).map { "a \($0)" })
        #expect(Set(messages.filter { $0.hasPrefix("b ") }) == Set((0..<100).map { "b \($0)" }))
        #expect(messages.count == 300)
    }
}
