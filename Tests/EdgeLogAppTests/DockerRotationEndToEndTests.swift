import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Foundation
import Testing

/// The built binary against a private dockerd (see `DockerEngine`): `run --once` from a fresh state directory
/// over dockerd's own rotation, `status` while rotated files are unread, and SIGTERM with a message still open.
@Suite(.enabled(if: DockerEngine.isAvailable, "needs a private dockerd: \(DockerEngine.unavailableReason ?? "")"))
struct DockerRotationEndToEndTests {
    final class Setup: @unchecked Sendable {
        let engine: DockerEngine
        let dir = TemporaryDirectory(prefix: "edgelog-docker-e2e")
        let name = "edgelog-e2e-\(UInt32.random(in: 0...UInt32.max))"
        let config: String
        var out: String { dir.path + "/out" }

        init() async throws {
            engine = try await DockerEngine.shared()
            config = try BinaryHarness.writeConfig(
                dir,
                """
                {"stateDirectory": "\(dir.path)/state",
                 "docker": {"containersDirectory": "\(engine.containersDirectory)", "excludeSelf": false,
                            "include": ["\(name)"], "partialFlushSeconds": 600},
                 "batch": {"flushIntervalSeconds": 0.1},
                 "metrics": {"enabled": false},
                 "sink": {"type": "file", "directory": "\(dir.path)/out"}}
                """)
        }

        deinit { try? engine.remove(name) }

        func run(_ script: String, logOptions: [String: String] = [:]) throws -> String {
            try engine.run(script, name: name, logOptions: logOptions)
        }

        func messages() throws -> [String] { try BinaryHarness.shipped(out).map { $0["Message"]!.stringValue! } }

        /// `edgelog status`'s entry for the container.
        func status(_ id: String) throws -> JSONValue? {
            let result = try BinaryHarness.run(["status", "--config", config])
            guard result.status == 0 else { throw DockerEngine.Failure(description: result.stderr) }
            return try JSONParser.parse(Array(result.stdout.utf8))["checkpoints"]?["docker/" + id]
        }

        /// The messages in the container's json-file logs (compressed or not), oldest first; lines only.
        func onDisk(_ id: String) throws -> [String] {
            let directory = engine.directory(of: id)
            let base = id + "-json.log"
            let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(base) }
            func index(_ name: String) -> Int {
                var rest = name.dropFirst(base.count)
                if rest.hasSuffix(".gz") { rest = rest.dropLast(3) }
                return rest.isEmpty ? 0 : Int(rest.dropFirst()) ?? 0
            }
            var messages: [String] = []
            for name in names.sorted(by: { index($0) > index($1) }) {
                if name.hasSuffix(".gz") && names.contains(String(name.dropLast(3))) { continue }
                var bytes = try FileSystem.read(directory + "/" + name, limit: 1 << 30) ?? []
                if name.hasSuffix(".gz") { bytes = try Gzip.decompress(bytes, limit: 1 << 30) }
                for line in bytes.split(separator: 0x0A) {
                    let log = try JSONParser.parse(Array(line))["log"]?.stringValue ?? ""
                    messages.append(log.hasSuffix("\n") ? String(log.dropLast()) : log)
                }
            }
            return messages
        }
    }

    /// `run --once` from a fresh state reads every file of the chain (compressed ones too); `status` never says a
    /// container is caught up while one of its rotated files is unread.
    @Test func runOnceReadsTheWholeChainAndStatusCountsUnreadRotatedFiles() async throws {
        let s = try await Setup()
        // 100 lines, then (once EdgeLog has read them) 60,000 more: about 4 MB, rotated at 1 MB, nothing deleted.
        let id = try s.run(
            "seq 1 100; until [ -f /tmp/go ]; do sleep 0.02; done; seq 101 60000",
            logOptions: ["max-size": "1m", "max-file": "6", "compress": "true"])
        try await eventually("the first lines written") { (try s.onDisk(id)).count == 100 }
        let first = try BinaryHarness.run(["run", "--config", s.config, "--once"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try s.messages() == (1...100).map(String.init))
        #expect(try s.status(id)?["behindBytes"]?.intValue == 0)

        try s.engine.docker(["exec", id, "touch", "/tmp/go"])
        try s.engine.wait(id)
        let behind = try #require(try s.status(id))
        #expect((behind["behindBytes"]?.intValue ?? 0) > 3_000_000)
        #expect((behind["unreadRotatedFiles"]?.intValue ?? 0) >= 3, "\(behind)")

        let second = try BinaryHarness.run(["run", "--config", s.config, "--once"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try s.messages() == (1...60000).map(String.init))
        #expect(try s.onDisk(id) == (1...60000).map(String.init))
        let after = try #require(try s.status(id))
        #expect(after["behindBytes"]?.intValue == 0)
        #expect(after["unreadRotatedFiles"]?.intValue == 0)
    }

    /// SIGTERM while a long line is half written (dockerd has written two 16 KiB pieces of it, the container still
    /// runs): the open message is shipped as it is and committed; its rest, written when the container is killed,
    /// comes as its own record in the next run, and nothing is shipped twice.
    @Test func sigtermShipsAnOpenMessageAndNothingTwice() async throws {
        let s = try await Setup()
        let id = try s.run("seq 1 1000; head -c 40000 /dev/zero | tr '\\0' x; sleep 1000")
        try await eventually("both pieces written") { (try s.onDisk(id)).count == 1002 }
        let running = try BinaryHarness.start(["run", "--config", s.config])
        try await eventually("the lines shipped") { (try s.messages()).count == 1000 }
        running.signal(SIGTERM)
        #expect(running.wait() == 0)
        #expect(try s.messages() == (1...1000).map(String.init) + [String(repeating: "x", count: 32768)])
        try s.engine.docker(["kill", id])
        try await eventually("the rest written") { (try s.onDisk(id)).count == 1003 }
        let again = try BinaryHarness.run(["run", "--config", s.config, "--once"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(
            try s.messages()
                == (1...1000).map(String.init) + [String(repeating: "x", count: 32768), String(repeating: "x", count: 40000 - 32768)])
    }
}

/// `edgelog status` over a rotation chain, from files alone (no dockerd needed).
@Suite struct DockerStatusTests {
    @Test func behindCountsEveryRotatedFileNotReadYetAndTheGapCounters() async throws {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        let c = try DockerContainerFixture(root: root, name: "busy")
        try c.log((0..<100).map { "a \($0)" })
        var configuration = Configuration()
        configuration.stateDirectory = dir.path + "/state"
        configuration.docker.containersDirectory = root
        configuration.docker.excludeSelf = false
        configuration.sink.directory = dir.path + "/out"
        let config = try BinaryHarness.writeConfig(dir, configuration.json.serialized(pretty: false))
        #expect(try BinaryHarness.run(["run", "--config", config, "--once"]).status == 0)
        // Two rotations the way dockerd makes them, with lines in every file.
        try c.log((100..<150).map { "b \($0)" })
        try c.rotate()
        try c.log((150..<200).map { "c \($0)" })
        try c.rotate()
        try c.log((200..<210).map { "d \($0)" })
        func entry() throws -> JSONValue? {
            let result = try BinaryHarness.run(["status", "--config", config])
            return try JSONParser.parse(Array(result.stdout.utf8))["checkpoints"]?["docker/" + c.id]
        }
        func size(_ path: String) throws -> Int64 { Int64(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int) }
        let behind = try #require(try entry())
        let position = try #require(behind["offset"]?.intValue)
        let expected = try size(c.logPath + ".2") - position + size(c.logPath + ".1") + size(c.logPath)
        #expect(behind["behindBytes"]?.intValue == expected)
        #expect(behind["unreadRotatedFiles"]?.intValue == 2)
        #expect(try BinaryHarness.run(["run", "--config", config, "--once"]).status == 0)
        let caughtUp = try #require(try entry())
        #expect(caughtUp["behindBytes"]?.intValue == 0)
        #expect(caughtUp["unreadRotatedFiles"]?.intValue == 0)
        let status = try JSONParser.parse(Array(try BinaryHarness.run(["status", "--config", config]).stdout.utf8))
        #expect(status["dropped"]?["dockerRotationGaps"]?.intValue == 0)
        #expect(status["dropped"]?["dockerBytesLost"]?.intValue == 0)
        let shipped = try BinaryHarness.shipped(dir.path + "/out").map { $0["Message"]!.stringValue! }
        #expect(shipped.count == 210)
    }
}
