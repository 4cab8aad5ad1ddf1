import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// The built binary against real files: what a device runs.
@Suite(.serialized) struct EndToEndTests {
    func setUp(lines: Int, containers: Int = 2, maxBytes: Int = 16384, flush: Double = 0.2) throws
        -> (TemporaryDirectory, String, [DockerContainerFixture])
    {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        var fixtures: [DockerContainerFixture] = []
        for c in 0..<containers {
            let f = try DockerContainerFixture(root: root, name: "module\(c)")
            let text = (0..<lines).map { DockerContainerFixture.line("m\(c) \($0) " + String(repeating: "p", count: 60) + "\n") }.joined()
            try f.append(text)
            fixtures.append(f)
        }
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state",
             "docker": {"containersDirectory": "\(root)", "excludeSelf": false},
             "batch": {"maxBytes": \(maxBytes), "flushIntervalSeconds": \(flush)},
             "sink": {"type": "file", "directory": "\(dir.path)/out"}}
            """)
        return (dir, config, fixtures)
    }

    func messages(_ out: String) throws -> [String] {
        try BinaryHarness.shipped(out).map { $0["Message"]!.stringValue! }
    }

    @Test func killNineMidRunThenRestartLosesNothing() async throws {
        // 300,000 lines (about 40 MB): on a quiet machine a run delivers 120,000 before a test polling every 10 ms
        // under a parallel suite gets to kill it.
        let (dir, config, _) = try setUp(lines: 150_000)
        let running = try BinaryHarness.start(["run", "--config", config])
        let out = dir.path + "/out"
        // Kill it once some batches are out but long before the 300,000 lines are.
        try await eventually("first batches delivered") { (try FileSystem.list(out)?.count ?? 0) >= 3 }
        running.signal(SIGKILL)
        running.wait()
        #expect(running.terminatingSignal == SIGKILL)
        let partial = try messages(out).count
        #expect(partial < 300_000)
        let second = try BinaryHarness.run(["run", "--config", config, "--once"])
        #expect(second.status == 0, "\(second.stderr)")
        let all = try messages(out)
        let counts = Dictionary(all.map { ($0, 1) }, uniquingKeysWith: +)
        let expected = (0..<2).flatMap { c in (0..<150_000).map { "m\(c) \($0) " + String(repeating: "p", count: 60) } }
        #expect(Set(expected).subtracting(counts.keys).isEmpty, "lines lost")
        let duplicates = counts.values.reduce(0) { $0 + $1 - 1 }
        // At most one batch again: a batch holds at most 16 KiB of records (about 70 of these).
        #expect(duplicates <= 16384 / 200, "\(duplicates) duplicates")
    }

    @Test func sigtermClosesTheOpenBatchDeliversAndCommits() async throws {
        // 400 lines of about 200 bytes: full 16 KiB batches go out at once, the rest waits in a batch that
        // stays open for 30 s. SIGTERM must close it, spool it and deliver it before exiting 0.
        let (dir, config, fixtures) = try setUp(lines: 200, flush: 30)
        let running = try BinaryHarness.start(["run", "--config", config])
        try await eventually("the full batches") { (try? messages(dir.path + "/out").count ?? 0) ?? 0 >= 400 - 16384 / 150 }
        #expect(try messages(dir.path + "/out").count < 400)
        running.signal(SIGTERM)
        #expect(running.wait() == 0)
        let log = running.stderr
        #expect(log.contains("EdgeLog stopped; checkpoints committed"))
        #expect(
            log.split(separator: "\n").allSatisfy {
                $0.range(of: #"^<[0-7]> \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+00:00 "#, options: .regularExpression) != nil
            })
        #expect(try messages(dir.path + "/out").count == 400)
        let status = try JSONParser.parse(try BinaryHarness.run(["status", "--config", config]).stdout)
        #expect(status["spool"]?["batches"] == .int(0))
        for (_, source) in status["checkpoints"]?.objectValue ?? [] { #expect(source["behindBytes"] == .int(0)) }
        // A restart reads only what came after.
        try fixtures[0].log(["tail line"])
        let again = try BinaryHarness.run(["run", "--config", config, "--once"])
        #expect(again.status == 0)
        let m = try messages(dir.path + "/out")
        #expect(m.count == 401)
        #expect(m.last == "tail line")
    }

    @Test func configValidateListsEveryProblem() throws {
        let dir = TemporaryDirectory()
        let bad = try BinaryHarness.writeConfig(dir, #"{"batch":{"maxBytes":5000000,"compressionLevel":0},"sink":{"kind":"file"}}"#)
        let result = try BinaryHarness.run(["config", "validate", bad])
        #expect(result.status == 1)
        #expect(result.stdout.contains("batch.maxBytes: 5000000 is over the 1000000 limit of the Logs Ingestion API; use at most 1000000"))
        #expect(result.stdout.contains("batch.compressionLevel: 0 is under the minimum of 1; use at least 1"))
        #expect(result.stdout.contains("sink.kind: is not a known key"))
        let defaults = try BinaryHarness.run(["config", "defaults"])
        #expect(defaults.status == 0)
        let good = try BinaryHarness.writeConfig(dir, defaults.stdout)
        let ok = try BinaryHarness.run(["config", "validate", good])
        #expect(ok.status == 0, "\(ok.stdout)")
        #expect((try JSONParser.parse(defaults.stdout))["spool"]?["timeToLiveSeconds"] == .int(7200))
    }

    @Test func onceExitsNonZeroWhenDeliveryFails() throws {
        let (dir, config, _) = try setUp(lines: 10, containers: 1)
        // The sink folder cannot be created: a file is in the way.
        try "x".write(toFile: dir.path + "/out", atomically: true, encoding: .utf8)
        let result = try BinaryHarness.run(["run", "--config", config, "--once"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("not delivered yet; they stay spooled"))
        let status = try BinaryHarness.run(["status", "--config", config])
        let report = try JSONParser.parse(status.stdout)
        #expect(report["spool"]?["records"] == .int(10))
        // Once the way is clear, the next run delivers what was spooled.
        try FileManager.default.removeItem(atPath: dir.path + "/out")
        #expect(try BinaryHarness.run(["run", "--config", config, "--once"]).status == 0)
        #expect(try messages(dir.path + "/out").count == 10)
    }

    @Test func unknownLogLevelIsRefused() throws {
        let result = try BinaryHarness.run(["run", "--once", "--log-level", "chatty"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown log level \"chatty\""))
    }
}
