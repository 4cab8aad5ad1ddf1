import EdgeLogCore
import EdgeLogDocker
import EdgeLogTestKit
import Foundation
import Testing

/// The `filters`, `redaction` and `records` sections applied by the Docker source: real json-file logs in a temp
/// folder, through the real pipeline into a collecting sink.
@Suite struct DockerFilterTests {
    typealias Harness = DockerSourceTests.Harness

    func messages(_ h: Harness, module: String) throws -> [String] {
        try h.records().filter { $0["ModuleId"]?.stringValue == module }.map { $0["Message"]!.stringValue! }
    }

    @Test func maxLevelKeepsWarningsAndWorseOfTheMatchedModuleOnly() async throws {
        let h = try Harness()
        h.configuration.filters.rules = [FilterRule(match: FilterMatch(modules: ["chatty*"]), maxLevel: 4)]
        let chatty = try DockerContainerFixture(root: h.containers, name: "chattySensor")
        try chatty.log(["<6> info", "<4> warn", "plain stdout", "<7> debug"])
        try chatty.log(["stderr is 3"], stream: "stderr")
        let other = try DockerContainerFixture(root: h.containers, name: "quiet")
        try other.log(["<7> debug of another module"])
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try messages(h, module: "chattySensor") == ["<4> warn", "stderr is 3"])
        #expect(try messages(h, module: "quiet") == ["<7> debug of another module"])
        #expect(counters[.recordsFilteredLevel] == 3)
        #expect(counters[.recordsFilteredDrop] == 0 && counters[.recordsRateLimited] == 0)
        #expect(counters[.recordsRead] == 6)  // read, whether kept or not
    }

    @Test func dropThenKeepPatternsDecideInThatOrder() async throws {
        let h = try Harness()
        h.configuration.filters.rules = [
            FilterRule(match: FilterMatch(modules: ["opc*"]), drop: ["^Heartbeat"], keep: ["(?i)error|warn"])
        ]
        let c = try DockerContainerFixture(root: h.containers, name: "opcPublisher")
        try c.log(["Heartbeat 1", "ERROR: lost the server", "published 12 values", "Heartbeat with a warning", "warning: slow"])
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try h.messages() == ["ERROR: lost the server", "warning: slow"])
        #expect(counters[.recordsFilteredDrop] == 2)
        #expect(counters[.recordsFilteredKeep] == 1)
    }

    @Test func rateLimitDropsTheExcessAndReportsItInOneRecord() async throws {
        let h = try Harness()
        h.configuration.filters.rules = [
            FilterRule(match: FilterMatch(modules: ["noisy"]), rateLimit: RateLimitSettings(linesPerSecond: 2, burst: 3))
        ]
        let c = try DockerContainerFixture(root: h.containers, name: "noisy")
        try c.log((0..<10).map { "n \($0)" })
        let q = try DockerContainerFixture(root: h.containers, name: "quiet")
        try q.log((0..<10).map { "q \($0)" })
        let counters = Counters()
        // The clock does not move: the bucket's 3 tokens go to the first 3 lines, the other 7 are dropped; the
        // end of the run reports them.
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(try messages(h, module: "noisy") == ["n 0", "n 1", "n 2", "rate limit: dropped 7 lines of module noisy in the last 1 s (filters.rules[0] lets 2 lines/s through, bursts of 3)"])
        #expect(try messages(h, module: "quiet").count == 10)
        #expect(counters[.recordsRateLimited] == 7)
        let summary = try #require(try h.records().first { $0["Source"]?.stringValue == "edgelog" })
        #expect(summary["TimeGenerated"]?.stringValue == "2026-11-27T18:05:00.000000Z")
        #expect(summary["Level"]?.intValue == 4)
        #expect(summary["Stream"]?.stringValue == "edgelog")
        #expect(summary["Computer"]?.stringValue == "host1")
        #expect(summary["Unit"] == nil)
        let extra = try #require(summary["Extra"])
        #expect(extra["dropped"]?.intValue == 7)
        #expect(extra["seconds"]?.intValue == 1)
        #expect(extra["rule"]?.intValue == 0)
        #expect(extra["linesPerSecond"]?.intValue == 2)
        #expect(extra["burst"]?.intValue == 3)
        #expect(extra["source"]?.stringValue == "docker")
    }

    @Test func rateLimitReportIsEmittedOncePerIntervalWhileFollowing() async throws {
        let h = try Harness()
        h.configuration.filters.rules = [
            FilterRule(match: FilterMatch(modules: ["noisy"]), rateLimit: RateLimitSettings(linesPerSecond: 2, burst: 3))
        ]
        h.configuration.filters.rateLimitReportSeconds = 60
        let c = try DockerContainerFixture(root: h.containers, name: "noisy")
        let counters = Counters()
        let pipeline = try h.pipeline(counters: counters)
        let task = Task { try await pipeline.run(mode: .follow) }
        try c.log((0..<5).map { "a \($0)" })
        try await eventually("the burst and the drops") { h.sink.records.count == 3 && counters[.recordsRateLimited] == 2 }
        // 61 s later (the bucket is full again, the report is due): the next line goes through and the report
        // follows it.
        h.clock.advance(seconds: 61)
        try c.log(["b 0"])
        try await eventually("the next line and the report") { h.sink.records.count == 5 }
        pipeline.shutdown()
        #expect(try await task.value)
        // The report goes out with the chunk of the next line, or at an idle turn before it is read.
        let m = try h.messages()
        #expect(Array(m.prefix(3)) == ["a 0", "a 1", "a 2"])
        #expect(
            Set(m.suffix(2)) == [
                "b 0",
                "rate limit: dropped 2 lines of module noisy in the last 61 s (filters.rules[0] lets 2 lines/s through, bursts of 3)",
            ])
        let report = try #require(try h.records().first { $0["Source"]?.stringValue == "edgelog" })
        #expect(report["TimeGenerated"]?.stringValue == "2026-11-27T18:06:01.000000Z")
        #expect(counters[.recordsRateLimited] == 2)
    }

    @Test func secretsAreRedactedBeforeTheyReachTheSink() async throws {
        let h = try Harness()
        h.settings.maxMessageBytes = 64 * 1024
        let c = try DockerContainerFixture(root: h.containers, name: "leaky")
        try c.log([
            "connecting with HostName=hub.azure-devices.net;DeviceId=d1;SharedAccessKey=c2VjcmV0S2V5VmFsdWUxMjM0NTY=",
            "nothing secret here",
        ])
        // A secret cut in two by Docker's 16 KiB split: redacted in the rejoined message.
        let long = String(repeating: "x", count: 16384 - 20) + " SharedAccessKey=AAAABBBBCCCCDDDD1234 tail\n"
        try c.append(DockerContainerFixture.line(String(long.prefix(16384))))
        try c.append(DockerContainerFixture.line(String(long.dropFirst(16384))))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        let m = try h.messages()
        #expect(m.count == 3)
        #expect(m[0] == "connecting with HostName=hub.azure-devices.net;DeviceId=d1;SharedAccessKey=<redacted>")
        #expect(m[1] == "nothing secret here")
        #expect(m[2] == String(repeating: "x", count: 16384 - 20) + " SharedAccessKey=<redacted> tail", "\(m[2].suffix(60))")
        let shipped = h.sink.records.joined()
        #expect(!shipped.contains("c2VjcmV0S2V5VmFsdWUxMjM0NTY"), "a secret shipped")
        #expect(!shipped.contains("AAAABBBBCCCCDDDD1234"), "a secret shipped")
        #expect(counters[.messagesRedacted] == 2)
    }

    @Test func chosenColumnsOnlyEmptyOnesLeftOutContainerIdShort() async throws {
        let h = try Harness()
        h.configuration.records.columns = ["TimeGenerated", "ModuleId", "ContainerId", "Level", "Message", "Unit", "Extra"]
        let c = try DockerContainerFixture(root: h.containers, name: "lean")
        try c.log(["<3> failed"])
        #expect(try await h.pipeline().run(mode: .once))
        let r = try #require(try h.records().first)
        // Unit (empty on container records) and Extra ({} without labels) are left out by omitEmpty.
        #expect(r.objectValue?.map(\.0) == ["TimeGenerated", "ModuleId", "ContainerId", "Level", "Message"])
        #expect(r["ContainerId"]?.stringValue == String(c.id.prefix(12)))
        #expect(r["Level"]?.intValue == 3)
    }

    @Test func everyColumnWithEmptyValuesAndTheFullContainerIdWhenAskedFor() async throws {
        let h = try Harness()
        h.configuration.records.omitEmpty = false
        h.configuration.records.containerId = "full"
        let c = try DockerContainerFixture(root: h.containers, name: "wide")
        try c.log(["hello"])
        #expect(try await h.pipeline().run(mode: .once))
        let r = try #require(try h.records().first)
        #expect(r.objectValue?.map(\.0) == RecordColumn.allCases.map(\.rawValue))
        #expect(r["ContainerId"]?.stringValue == c.id)
        #expect(r["Unit"]?.stringValue == "")
        #expect(r["Extra"] == .object([]))
    }

    @Test func theCheckpointMovesPastDroppedRecordsSoARestartDoesNotReadThemAgain() async throws {
        let h = try Harness()
        h.configuration.filters.rules = [FilterRule(drop: ["^noise"])]
        let c = try DockerContainerFixture(root: h.containers, name: "tail")
        try c.log(["kept 1", "noise 1", "noise 2"])
        let first = Counters()
        #expect(try await h.pipeline(counters: first).run(mode: .once))
        #expect(first[.recordsFilteredDrop] == 2)
        // The file ends with dropped lines: the committed position is its end all the same.
        let store = try CheckpointStore(directory: h.configuration.stateDirectory)
        guard case .file(let position)? = store.positions["docker/" + c.id] else {
            Issue.record("no position for the container")
            return
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: c.logPath)[.size] as? Int)
        #expect(position.offset == Int64(size))
        try c.log(["kept 2"])
        let second = Counters()
        #expect(try await h.pipeline(counters: second).run(mode: .once))
        #expect(try h.messages() == ["kept 1", "kept 2"])
        // Counters restart from the persisted totals: nothing was dropped (read) again.
        #expect(second[.recordsFilteredDrop] == 2)
        #expect(second[.recordsRead] == first[.recordsRead] + 1)
    }

    @Test func aRenamedContainerIsFilteredByItsNewName() async throws {
        let h = try Harness()
        h.configuration.filters.rules = [FilterRule(match: FilterMatch(modules: ["muted"]), maxLevel: 0)]
        let c = try DockerContainerFixture(root: h.containers, name: "loud")
        try c.log(["before the rename"])
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try await eventually("the first line") { h.sink.records.count == 1 }
        // dockerd rewrites config.v2.json on a rename; the source re-reads it at its next scan.
        let config = c.directory + "/config.v2.json"
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "\"/loud\"", with: "\"/muted\"")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        try await eventually("the new name is known") {
            try c.log(["probe"])
            return pipeline.counters[.recordsFilteredLevel] > 0
        }
        pipeline.shutdown()
        #expect(try await task.value)
        #expect(try h.records().first?["ModuleId"]?.stringValue == "loud")
        #expect(try h.records().allSatisfy { $0["ModuleId"]?.stringValue == "loud" })
    }
}
