import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Logging
import Testing

@testable import EdgeLogDocker

/// Per container, the logging driver its `hostconfig.json` names decides where its lines are read from; a file
/// that cannot be used falls back on the log files present, never an error or a stall.
@Suite struct DriverSelectionTests {
    typealias Harness = DockerSourceTests.Harness

    @Test func everyDriverIsReadOrLeftAloneAndListed() async throws {
        let h = try Harness()
        let json = try DockerContainerFixture(root: h.containers, name: "jsonmod")
        try LocalContainerFixture.writeHostConfig(directory: json.directory, driver: "json-file", options: ["max-size": "10m"])
        try json.log(["from json-file"])
        let local = try LocalContainerFixture(root: h.containers, name: "localmod")
        try local.log(0..<1) { _ in "from local" }
        var others: [String: String] = [:]
        for driver in ["journald", "none", "syslog", "fluentd"] {
            let c = try LocalContainerFixture(root: h.containers, name: driver + "mod", driver: driver)
            // Not its driver's files, but were they read, this would show.
            FileManager.default.createFile(
                atPath: c.directory + "/" + c.id + "-json.log",
                contents: Data(DockerContainerFixture.line("must not be read\n").utf8))
            others[c.id] = driver
        }
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(Set(try h.messages()) == ["from json-file", "from local"])
        #expect(counters[.readErrors] == 0)
        let unread = UnreadContainer.list(containersDirectory: h.containers)
        #expect(Dictionary(uniqueKeysWithValues: unread.map { ($0.id, $0.driver.description) }) == others)
        #expect(Set(unread.map(\.name)) == ["journaldmod", "nonemod", "syslogmod", "fluentdmod"])
    }

    @Test func aMissingOrDamagedHostConfigFallsBackOnTheFilesPresent() async throws {
        let h = try Harness()
        // Missing: a -json.log means json-file (as EdgeLog always read it).
        let missing = try DockerContainerFixture(root: h.containers, name: "missing")
        try missing.log(["missing hostconfig"])
        // Not JSON, a FIFO (opening it for reading would block), over 1 MiB, no LogConfig: all fall back.
        let garbage = try DockerContainerFixture(root: h.containers, name: "garbage")
        try "{\"LogConfig\": {\"Type\": \"loc".write(toFile: garbage.directory + "/hostconfig.json", atomically: true, encoding: .utf8)
        try garbage.log(["garbage hostconfig"])
        let fifo = try DockerContainerFixture(root: h.containers, name: "fifo")
        #expect(mkfifo(fifo.directory + "/hostconfig.json", 0o600) == 0)
        try fifo.log(["fifo hostconfig"])
        let huge = try LocalContainerFixture(root: h.containers, name: "huge")
        try ("{\"Pad\":\"" + String(repeating: "x", count: 1 << 20) + "\",\"LogConfig\":{\"Type\":\"none\"}}")
            .write(toFile: huge.directory + "/hostconfig.json", atomically: true, encoding: .utf8)
        try huge.log(0..<1) { _ in "huge hostconfig, local files" }
        let typeless = try DockerContainerFixture(root: h.containers, name: "typeless")
        try "{\"LogConfig\":{\"Type\":7}}".write(toFile: typeless.directory + "/hostconfig.json", atomically: true, encoding: .utf8)
        try typeless.log(["typeless hostconfig"])
        #expect(LogDriver.detect(directory: missing.directory, id: missing.id)! == (.jsonFile, .missing))
        for c in [garbage.directory, fifo.directory, typeless.directory] {
            let found = LogDriver.detect(directory: c, id: URL(fileURLWithPath: c).lastPathComponent)
            #expect(found?.driver == .jsonFile)
            if case .damaged? = found?.origin {} else { Issue.record("\(c): \(String(describing: found?.origin))") }
        }
        #expect(LogDriver.detect(directory: huge.directory, id: huge.id)?.driver == .local)
        #expect(try await h.pipeline().run(mode: .once))
        #expect(
            Set(try h.messages()) == [
                "missing hostconfig", "garbage hostconfig", "fifo hostconfig", "huge hostconfig, local files",
                "typeless hostconfig",
            ])
    }

    @Test func aFolderWithoutHostConfigOrLogsIsDecidedWhenTheyCome() async throws {
        let h = try Harness()
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        // dockerd creates the folder and config.v2.json, then hostconfig.json, then (at start) the log folder.
        let id = DockerContainerFixture.makeId("late")
        let dir = h.containers + "/" + id
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let c = try LocalContainerFixture(root: h.containers, name: "late")
        try c.log(0..<3) { "late \($0)" }
        try await eventually("its lines") { h.sink.records.count == 3 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == ["late 0", "late 1", "late 2"])
    }

    @Test func whetherAnUnreadContainerIsCollectedFollowsDockerJournal() {
        let journald = UnreadContainer(id: "a", name: "m", driver: .journald)
        let syslog = UnreadContainer(id: "b", name: "n", driver: .other("syslog"))
        var docker = DockerSettings()
        for mode in [DockerSettings.JournalMode.auto, .true] {
            docker.journal = mode
            #expect(journald.collected(docker) == "through the journal")
            #expect(syslog.collected(docker) == "no")
        }
        docker.journal = .false
        #expect(journald.collected(docker) == "no")
    }

    @Test func driverNamesAreKeptShort() {
        #expect(LogDriver.named("") == .jsonFile)
        #expect(LogDriver.named("local") == .local)
        #expect(LogDriver.named(String(repeating: "z", count: 500)).description.utf8.count < 80)
    }
}

extension LogDriver.Origin: CustomStringConvertible {
    public var description: String {
        switch self {
        case .hostConfig: "hostConfig"
        case .missing: "missing"
        case .damaged(let reason): "damaged: \(reason)"
        }
    }
}
