import EdgeLogCore
import EdgeLogDocker
import EdgeLogTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// The Docker source against real files in a temp folder, through the real pipeline into a collecting sink.
@Suite struct DockerSourceTests {
    let logger = Logger(label: "test")

    struct Identity: BatchCompressor {
        func compress(_ bytes: [UInt8], level: Int) throws -> [UInt8] { bytes }
        func decompress(_ bytes: [UInt8]) throws -> [UInt8] { bytes }
    }

    final class Harness: @unchecked Sendable {
        let dir = TemporaryDirectory()
        let containers: String
        let sink = CollectingSink(decompress: { $0 })
        var settings = DockerSettings()
        var configuration = Configuration()

        init() throws {
            containers = try dir.makeDirectory("containers")
            settings.containersDirectory = containers
            settings.excludeSelf = false
            settings.pollIntervalSeconds = 0.05
            configuration.stateDirectory = dir.path + "/state"
            configuration.batch.maxBytes = 64 * 1024
            configuration.batch.flushIntervalSeconds = 0.02
            configuration.docker = settings
        }

        let clock = FilterClock()

        func pipeline(counters: Counters = Counters()) throws -> Pipeline {
            configuration.docker = settings
            let clock = self.clock
            let source = DockerSource(
                settings: settings, environment: [:], records: configuration.records, filters: configuration.filters,
                redaction: configuration.redaction, nowNanos: { clock.nanos })
            return try Pipeline(
                configuration: configuration, host: HostIdentity(computer: "host1", deviceId: "dev", iotHub: "hub"),
                sources: [source], sink: sink, compressor: Identity(), counters: counters, logger: Logger(label: "test"))
        }

        func records() throws -> [JSONValue] { try sink.records.map { try JSONParser.parse($0) } }
        func messages() throws -> [String] { try records().map { $0["Message"]!.stringValue! } }
    }

    @Test func recordsCarryTheColumnsLevelsAndMetadata() async throws {
        let h = try Harness()
        h.settings.labels = ["*", "!net.azure-devices.edge.env"]  // labels are opt-in
        let c = try DockerContainerFixture(root: h.containers, name: "edgeHub", labels: ["team": "ops", "net.azure-devices.edge.env": "SECRET=1"], image: "mcr/edgehub:1.5")
        try c.append(DockerContainerFixture.line("<4> 2026-11-27 18:04:31.123 +00:00 disk low\n"))
        try c.append(DockerContainerFixture.line("plain out\n"))
        try c.append(DockerContainerFixture.line("oops\n", stream: "stderr", time: "2026-11-27T19:04:31.5+01:00"))
        try c.append("{\"log\":\"with attrs\\n\",\"stream\":\"stdout\",\"attrs\":{\"tag\":\"x\"},\"time\":\"2026-11-27T18:04:31Z\"}\n")
        #expect(try await h.pipeline().run(mode: .once))
        let r = try h.records()
        #expect(r.count == 4)
        #expect(r.map { $0["Level"]!.intValue! } == [4, 6, 3, 6])
        #expect(r.map { $0["Stream"]!.stringValue! } == ["stdout", "stdout", "stderr", "stdout"])
        #expect(r[0]["Message"]?.stringValue == "<4> 2026-11-27 18:04:31.123 +00:00 disk low")
        #expect(r[0]["ModuleId"]?.stringValue == "edgeHub")
        #expect(r[0]["ContainerId"]?.stringValue == String(c.id.prefix(12)))  // records.containerId "short"
        #expect(r[0]["ContainerImage"]?.stringValue == "mcr/edgehub:1.5")
        #expect(r[0]["Computer"]?.stringValue == "host1")
        #expect(r[0]["DeviceId"]?.stringValue == "dev")
        #expect(r[0]["Source"]?.stringValue == "docker")
        #expect(r[0]["TimeGenerated"]?.stringValue == "2026-11-27T18:04:31.123456789Z")
        #expect(r[2]["TimeGenerated"]?.stringValue == "2026-11-27T18:04:31.500000000Z")
        #expect(r[0]["Extra"] == .object([("labels", .object([("team", .string("ops"))]))]))
        #expect(r[3]["Extra"]?["attrs"]?["tag"]?.stringValue == "x")
        #expect(r[3]["Extra"]?["labels"]?["team"]?.stringValue == "ops")
    }

    @Test func partialMessagesAreRejoinedAndCapped() async throws {
        let h = try Harness()
        h.settings.maxMessageBytes = 40 * 1024
        let c = try DockerContainerFixture(root: h.containers, name: "big")
        let long = String(repeating: "a", count: 16384) + String(repeating: "b", count: 16384) + "end\n"
        let huge = String(repeating: "z", count: 16384 * 4) + "\n"
        for message in [long, huge] {
            var rest = Substring(message)
            while !rest.isEmpty {
                let piece = rest.prefix(16384)
                rest = rest.dropFirst(piece.count)
                try c.append(DockerContainerFixture.line(String(piece)))
            }
        }
        try c.append(DockerContainerFixture.line("after\n"))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        let m = try h.messages()
        #expect(m.count == 3)
        #expect(m[0] == String(long.dropLast()))
        #expect(m[1].utf8.count == 40 * 1024)
        #expect(m[1].allSatisfy { $0 == "z" })
        #expect(m[2] == "after")
        #expect(counters[.messagesTruncated] == 1)
    }

    @Test func badInputIsCountedAndSkippedNeverStalling() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "messy")
        try c.append(DockerContainerFixture.line("first\n"))
        try c.append("{\"log\":\"unterminated\n")
        try c.append("this is not json\n")
        try c.append([UInt8]("{\"log\":\"bad utf8 ".utf8) + [0xFF, 0xFE] + [UInt8](" end\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-27T18:04:31Z\"}\n".utf8))
        try c.append([UInt8](repeating: 0, count: 4096) + [0x0A])
        // 5 MB on one line: the head is kept, the rest skipped.
        try c.append("{\"log\":\"" + String(repeating: "h", count: 5_000_000) + "\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-27T18:04:31Z\"}\n")
        try c.append(DockerContainerFixture.line("last\n"))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        let m = try h.messages()
        #expect(m.first == "first")
        #expect(m.last == "last")
        #expect(m.contains("bad utf8 \u{FFFD}\u{FFFD} end"))
        let head = m.first { $0.hasPrefix("hhhh") }
        #expect(head != nil)
        #expect((head?.utf8.count ?? 0) < 64 * 1024 + 2 * Int(DockerSettings().maxMessageBytes))
        #expect(m.count == 4)
        #expect(counters[.linesMalformed] == 2)
        #expect(counters[.nulBytesSkipped] == 4096)
        #expect(counters[.linesOversize] == 1)
        #expect(counters[.invalidUTF8Replaced] == 2)
    }

    @Test func restartResumesWithNoLossAndNoDuplicate() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "steady")
        try c.log((0..<500).map { "line \($0)" })
        #expect(try await h.pipeline().run(mode: .once))
        try c.log((500..<1200).map { "line \($0)" })
        #expect(try await h.pipeline().run(mode: .once))
        #expect(try h.messages() == (0..<1200).map { "line \($0)" })
    }

    @Test func renameRotationWhileStoppedIsFollowedFromTheRotatedFile() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "rot")
        try c.log((0..<100).map { "r \($0)" })
        #expect(try await h.pipeline().run(mode: .once))
        try c.log((100..<150).map { "r \($0)" })
        try c.rotate()
        try c.log((150..<200).map { "r \($0)" })
        #expect(try await h.pipeline().run(mode: .once))
        #expect(try h.messages() == (0..<200).map { "r \($0)" })
    }

    @Test func followsAWriterThroughRotationAndTruncation() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "live")
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try c.log((0..<300).map { "f \($0)" })
        try await eventually("first lines") { h.sink.records.count == 300 }
        try c.log((300..<400).map { "f \($0)" })
        try c.rotate()
        try c.log((400..<500).map { "f \($0)" })
        try await eventually("lines after the rotation") { h.sink.records.count == 500 }
        try c.truncate()
        try c.log((500..<520).map { "f \($0)" })
        try await eventually("lines after the truncation") { h.sink.records.count == 520 }
        pipeline.shutdown()
        #expect(try await task.value)
        #expect(try h.messages() == (0..<520).map { "f \($0)" })
        #expect(pipeline.counters[.filesTruncatedDetected] == 1)
        #expect(pipeline.counters[.filesRotatedFollowed] == 1)
    }

    @Test func containersAppearAndVanishWhileRunning() async throws {
        let h = try Harness()
        h.settings.exclude = ["ignored*"]
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        let a = try DockerContainerFixture(root: h.containers, name: "alpha")
        try a.log(["a1", "a2"])
        let ignored = try DockerContainerFixture(root: h.containers, name: "ignoredModule")
        try ignored.log(["never"])
        try await eventually("alpha's lines") { h.sink.records.count == 2 }
        try a.log(["a3"])
        try a.remove()
        let b = try DockerContainerFixture(root: h.containers, name: "beta")
        try b.log(["b1"])
        try await eventually("beta's line") { h.sink.records.count == 4 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(Set(try h.messages()) == ["a1", "a2", "a3", "b1"])
        #expect(try h.records().filter { $0["ModuleId"]?.stringValue == "beta" }.count == 1)
    }

    @Test func aConcurrentWriterProcessLosesNothing() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "writer")
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        let script = """
            import json, os, sys
            fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
            for i in range(20000):
                os.write(fd, (json.dumps({"log": "w %d\\n" % i, "stream": "stdout", "time": "2026-11-27T18:04:31Z"}) + "\\n").encode())
            """
        let writer = try ChildProcess.run("python3", ["-c", script, c.logPath])
        #expect(writer.status == 0, "\(writer.stderr)")
        try await eventually("every line") { h.sink.records.count >= 20000 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == (0..<20000).map { "w \($0)" })
    }

    @Test func readFromEndSkipsWhatIsThereAtFirstStart() async throws {
        let h = try Harness()
        h.settings.readFrom = "end"
        let c = try DockerContainerFixture(root: h.containers, name: "old")
        try c.log(["old 1", "old 2"])
        #expect(try await h.pipeline().run(mode: .once))
        try c.log(["new 1"])
        #expect(try await h.pipeline().run(mode: .once))
        #expect(try h.messages() == ["new 1"])
    }

    @Test func inodeReuseIsNotMistakenForTheOldFile() async throws {
        let h = try Harness()
        let c = try DockerContainerFixture(root: h.containers, name: "reuse")
        try c.log((0..<50).map { "old \($0)" })
        #expect(try await h.pipeline().run(mode: .once))
        // Replace the file with different content of the same length or longer (the inode may be reused).
        try c.replaceFile()
        try c.log((0..<80).map { "new \($0)" })
        #expect(try await h.pipeline().run(mode: .once))
        #expect(try h.messages().filter { $0.hasPrefix("new") } == (0..<80).map { "new \($0)" })
    }
}
