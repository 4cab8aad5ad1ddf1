import EdgeLogCore
import EdgeLogDocker
import EdgeLogTestKit
import Foundation
import Logging
import Testing

/// Docker's `local` logging driver on a real dockerd (a private one, see `DockerEngine`): what EdgeLog shipped is
/// compared with what `docker logs --timestamps` reads back from dockerd's own files (messages, streams, times).
@Suite(.enabled(if: DockerEngine.isAvailable, "needs a private dockerd: \(realDockerUnavailable)"))
struct RealLocalDriverTests {
    /// What `docker logs -t` shows of the container, per stream: (message, time in ns). Only the lines dockerd's
    /// files still hold; every line one message (the containers here write no line over 16 KiB).
    static func dockerLogs(_ h: RealDockerHarness, _ id: String) throws -> (stdout: [(String, Int64)], stderr: [(String, Int64)]) {
        let result = try ChildProcess.run("docker", ["logs", "-t", id], environment: ["DOCKER_HOST": h.engine.host])
        guard result.status == 0 else { throw DockerEngine.Failure(description: result.stderr) }
        func parse(_ text: String) -> [(String, Int64)] {
            text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
                let space = line.firstIndex(of: " ") ?? line.endIndex
                let time = Timestamp.parse(String(line[..<space])).map { $0.seconds * 1_000_000_000 + Int64($0.nanos) } ?? -1
                return (String(line[line.index(after: space)...]), time)
            }
        }
        return (parse(result.stdout), parse(result.stderr))
    }

    static func nanos(_ text: String) -> Int64 {
        Timestamp.parse(text).map { $0.seconds * 1_000_000_000 + Int64($0.nanos) } ?? -2
    }

    @Test func runOnceShipsEveryLineOfARotatedCompressedLocalLogOnceWithItsStreamAndTime() async throws {
        let h = try await RealDockerHarness()
        let id = try h.run(
            #"i=0; while [ $i -lt 3000 ]; do echo "out $i"; echo "<4>err $i" >&2; i=$((i+1)); done"#, logDriver: "local",
            logOptions: ["max-size": "48k", "max-file": "40", "compress": "true"])
        try h.engine.wait(id)
        let folder = h.engine.directory(of: id)
        #expect(LogDriver.detect(directory: folder, id: id)?.driver == .local)
        // dockerd rotated and compressed (in the background: wait for the first .gz to be complete).
        try await eventually("a compressed rotated file") {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder + "/local-logs")) ?? []
            return names.contains("container.log.1.gz") && !names.contains("container.log.1")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/" + id + "-json.log"))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        let records = h.sink.records.filter { $0.container == id }
        let stdout = records.filter { $0.stream == "stdout" }
        let stderr = records.filter { $0.stream == "stderr" }
        #expect(stdout.map(\.message) == (0..<3000).map { "out \($0)" })
        #expect(stderr.map(\.message) == (0..<3000).map { "<4>err \($0)" })
        #expect(stdout.allSatisfy { $0.level == 6 } && stderr.allSatisfy { $0.level == 4 })
        // The same lines, streams and times as dockerd itself reads back from its files.
        let logs = try Self.dockerLogs(h, id)
        #expect(stdout.map(\.message) == logs.stdout.map(\.0))
        #expect(stderr.map(\.message) == logs.stderr.map(\.0))
        #expect(stdout.map { Self.nanos($0.time) } == logs.stdout.map(\.1))
        #expect(stderr.map { Self.nanos($0.time) } == logs.stderr.map(\.1))
        #expect(counters[.linesMalformed] == 0)
        #expect(counters[.dockerRotationGaps] == 0)
        // Exactly once: a second run finds nothing new.
        #expect(try await h.pipeline().run(mode: .once))
        #expect(h.sink.records.filter { $0.container == id }.count == 6000)
    }

    @Test func followingShipsLongLinesRejoinedAndALineCutByTheExit() async throws {
        let h = try await RealDockerHarness()
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        let id = try h.run(
            "i=0; while [ $i -lt 1500 ]; do echo \"f $i\"; i=$((i+1)); done; head -c 40000 /dev/zero | tr '\\0' a; echo; "
                + "head -c 32768 /dev/zero | tr '\\0' b; echo; echo end; printf cut",
            logDriver: "local", logOptions: ["max-size": "32k", "max-file": "30", "compress": "true"])
        try h.engine.wait(id)
        try await eventually("every line shipped") { h.sink.records.filter { $0.container == id }.count == 1504 }
        try await RealDockerTests.followUntilCaughtUp(h, pipeline, id: id)
        pipeline.shutdown()
        _ = try await task.value
        let messages = h.sink.messages(of: id)
        #expect(
            messages == (0..<1500).map { "f \($0)" } + [
                String(repeating: "a", count: 40000), String(repeating: "b", count: 32768), "end", "cut",
            ])
        #expect(pipeline.counters[.linesMalformed] == 0)
        // A restart from the committed positions ships nothing again.
        #expect(try await h.pipeline().run(mode: .once))
        #expect(h.sink.messages(of: id).count == 1504)
    }

    @Test func aRestartWhileTheContainerWritesShipsEveryLineOnce() async throws {
        let h = try await RealDockerHarness()
        let id = try h.run(
            #"i=0; while [ $i -lt 6000 ]; do echo "r $i"; i=$((i+1)); if [ $((i % 500)) -eq 0 ]; then sleep 0.1; fi; done"#,
            logDriver: "local", logOptions: ["max-size": "24k", "max-file": "60", "compress": "true"])
        let first = try h.pipeline()
        let task = Task { try await first.run(mode: .follow) }
        try await eventually("some lines shipped") { h.sink.records.filter { $0.container == id }.count >= 500 }
        first.shutdown()
        _ = try await task.value
        try h.engine.wait(id)
        let second = try h.pipeline()
        let again = Task { try await second.run(mode: .follow) }
        try await RealDockerTests.followUntilCaughtUp(h, second, id: id)
        second.shutdown()
        _ = try await again.value
        #expect(h.sink.messages(of: id) == (0..<6000).map { "r \($0)" })
        #expect(second.counters[.dockerRotationGaps] == 0)
    }

    @Test func containersOfOtherDriversAreNotReadAndListedAsSuch() async throws {
        let h = try await RealDockerHarness()
        let none = try h.run("echo hidden", logDriver: "none")
        let json = try h.run("echo visible")
        try h.engine.wait(none)
        try h.engine.wait(json)
        #expect(LogDriver.detect(directory: h.engine.directory(of: none), id: none)?.driver == LogDriver.other("none"))
        let counters = Counters()
        #expect(try await h.pipeline(counters: counters).run(mode: .once))
        #expect(h.sink.messages(of: json) == ["visible"])
        #expect(h.sink.messages(of: none).isEmpty)
        #expect(counters[.readErrors] == 0)
        let unread = UnreadContainer.list(containersDirectory: h.engine.containersDirectory).filter { $0.id == none }
        #expect(unread.map(\.driver) == [.other("none")])
        #expect(unread.first?.name == h.containers[0])
    }
}
