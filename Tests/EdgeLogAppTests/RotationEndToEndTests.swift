import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// `edgelog run` tailing and rotating the same json-file log under a fast writer: no line lost, none twice.
@Suite(.serialized) struct RotationEndToEndTests {
    @Test func tailingAndCopytruncateTogetherLoseNothingAndRepeatNothing() async throws {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        let fixture = try DockerContainerFixture(root: root, name: "chatty")
        let lines = 120_000
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state",
             "docker": {"containersDirectory": "\(root)", "excludeSelf": false},
             "rotation": {"enabled": true, "checkIntervalSeconds": 1, "schedule": "none", "maxSize": "256KiB",
                          "rotate": 1000, "compress": true, "delayCompress": true, "copyTruncate": true},
             "batch": {"flushIntervalSeconds": 0.2},
             "sink": {"type": "file", "directory": "\(dir.path)/out"}}
            """)
        let running = try BinaryHarness.start(["run", "--config", config])
        // A writer like Docker's: O_APPEND, whole lines, about 1.6 MB/s, so rotation checks (every second) find the
        // file over maxSize while it is being written. Three phases; after each, wait for one more rotation, so
        // there are at least three, whatever the machine's speed.
        let script = """
            import json, os, sys, time
            fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
            first, count = int(sys.argv[2]), int(sys.argv[3])
            start = time.time()
            for i in range(first, first + count):
                os.write(fd, (json.dumps({"log": "n %d\\n" % i, "stream": "stdout", "time": "2026-11-27T18:04:31Z"}) + "\\n").encode())
                if i % 2000 == 1999:
                    time.sleep(max(0, (i + 1 - first) / 20000 - (time.time() - start)))
            """
        // Completed copy-truncates (the rotated file itself appears when the copy starts, before the truncation).
        func rotations() -> Int { running.stderr.components(separatedBy: "and truncated it").count - 1 }
        for phase in 0..<3 {
            let writer = try ChildProcess.run("python3", ["-c", script, fixture.logPath, "\(phase * lines / 3)", "\(lines / 3)"])
            #expect(writer.status == 0, "\(writer.stderr)")
            do {
                try await eventually("rotation \(phase + 1)", timeout: .seconds(300)) { rotations() > phase }
            } catch {
                running.signal(SIGTERM)
                _ = running.wait()
                Issue.record("\(error); edgelog said: \(running.stderr.suffix(6000))")
                return
            }
        }
        let out = dir.path + "/out"
        // If lines were lost this never holds: then the assertions below say which (rather than a bare timeout).
        try? await eventually("every line shipped", timeout: .seconds(300)) { (try? BinaryHarness.shipped(out).count) ?? 0 >= lines }
        running.signal(SIGTERM)
        #expect(running.wait() == 0, "\(running.stderr)")

        let messages = try BinaryHarness.shipped(out).map { $0["Message"]!.stringValue! }
        var seen = [Int](repeating: 0, count: lines)
        for m in messages { if let n = Int(m.dropFirst(2)), n < lines { seen[n] += 1 } }
        let lost = seen.indices.filter { seen[$0] == 0 }
        #expect(lost.isEmpty, "\(lost.count) lines lost, e.g. \(lost.prefix(20)); edgelog said: \(running.stderr.suffix(2000))")
        #expect(seen.filter { $0 > 1 }.count == 0, "lines repeated")
        #expect(messages.count == lines)
        // It did rotate, more than once, and the rotated files hold the lines too.
        let rotated = (try FileSystem.list(fixture.directory) ?? []).filter { $0.contains("-json.log.") }
        #expect(rotated.count >= 3, "\(rotated)")
        let status = try JSONParser.parse(try BinaryHarness.run(["status", "--config", config]).stdout)
        #expect((status["counters"]?["rotations"]?.intValue ?? 0) >= 3)
        #expect(status["counters"]?["filesTruncatedDetected"]?.intValue == 0)
    }

    @Test func onceEndsWithARotationCheck() throws {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        let fixture = try DockerContainerFixture(root: root, name: "big")
        try fixture.log((0..<5000).map { "line \($0) " + String(repeating: "x", count: 100) })
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state",
             "docker": {"containersDirectory": "\(root)", "excludeSelf": false},
             "rotation": {"enabled": true, "schedule": "none", "maxSize": "100KiB", "delayCompress": false},
             "sink": {"type": "file", "directory": "\(dir.path)/out"}}
            """)
        let result = try BinaryHarness.run(["run", "--config", config, "--once"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try BinaryHarness.shipped(dir.path + "/out").count == 5000)
        let names = try FileSystem.list(fixture.directory) ?? []
        #expect(names.contains(FileSystem.basename(of: fixture.logPath) + ".1.gz"), "\(names)")
        #expect((try FileSystem.status(fixture.logPath))?.st_size == 0)
        // Nothing is read twice afterwards.
        #expect(try BinaryHarness.run(["run", "--config", config, "--once"]).status == 0)
        #expect(try BinaryHarness.shipped(dir.path + "/out").count == 5000)
    }
}
