import EdgeLogApp
import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

/// The progress line of `run --once` and `rotate`: on a terminal (a pseudo-terminal from `script`), never off one.
@Suite struct ProgressTests {
    @Test func theLineShowsDoneOfTotalRateAndETA() {
        #expect(
            ProgressLine.format(done: 250_000_000, total: 1_000_000_000, seconds: 10, detail: "7 records read")
                == "250.0 of 1,000.0 MB (25%) · 25.0 MB/s · ETA 0:30 · 7 records read")
        // Done: no ETA; an estimate that was too low never shows more than 100 %.
        #expect(ProgressLine.format(done: 1_200_000, total: 1_000_000, seconds: 2) == "1.2 of 1.2 MB (100%) · 0.6 MB/s")
        // No total known: the bytes and the rate only.
        #expect(ProgressLine.format(done: 3_500_000_000, total: nil, seconds: 100) == "3,500.0 MB · 35.0 MB/s")
        #expect(ProgressLine.format(done: 1_000_000, total: 3_600_001_000_000, seconds: 1).contains("ETA 1000:00:00"))
        #expect(ProgressLine.grouped(1_234_567) == "1,234,567")
        #expect(ProgressLine.grouped(999) == "999")
    }

    func setUp() throws -> (TemporaryDirectory, String, DockerContainerFixture) {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        let fixture = try DockerContainerFixture(root: root, name: "app")
        try fixture.log((0..<20_000).map { "line \($0) " + String(repeating: "x", count: 60) })
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state",
             "docker": {"containersDirectory": "\(root)", "excludeSelf": false},
             "rotation": {"delayCompress": false},
             "sink": {"type": "file", "directory": "\(dir.path)/out"}}
            """)
        return (dir, config, fixture)
    }

    /// Runs `edgelog` with a pseudo-terminal as its stdout and stderr; returns what the terminal showed.
    func onTerminal(_ arguments: [String]) throws -> (status: Int32, screen: String) {
        let command = ([BinaryHarness.binary] + arguments).joined(separator: " ")
        let result = try ChildProcess.run("script", ["-qec", command, "/dev/null"], environment: ["TERM": "xterm"])
        return (result.status, result.stdout)
    }

    @Test func runOnceShowsProgressOnATerminal() throws {
        let (dir, config, fixture) = try setUp()
        let size = try #require(try FileSystem.status(fixture.logPath)).st_size
        let (status, screen) = try onTerminal(["run", "--once", "--config", config])
        #expect(status == 0, "\(screen)")
        // The final line: every byte of the backlog read, every record shipped.
        let megabytes = ProgressLine.format(done: Int64(size), total: Int64(size), seconds: 1).prefix { $0 != "(" }
        #expect(screen.contains("\(megabytes)(100%)"), "\(screen)")
        #expect(screen.contains("20,000 records read, 20,000 shipped"), "\(screen)")
        #expect(try BinaryHarness.shipped(dir.path + "/out").count == 20_000)
    }

    @Test func nothingIsDrawnOffATerminal() throws {
        let (dir, config, _) = try setUp()
        defer { withExtendedLifetime(dir) {} }
        let result = try BinaryHarness.run(["run", "--once", "--config", config])
        #expect(result.status == 0)
        #expect(!result.stderr.contains("MB/s"), "\(result.stderr)")
        #expect(!result.stderr.contains("\u{1B}["))
    }

    @Test func rotateShowsProgressOnATerminal() throws {
        let (dir, config, fixture) = try setUp()
        defer { withExtendedLifetime(dir) {} }
        let size = try #require(try FileSystem.status(fixture.logPath)).st_size
        let (status, screen) = try onTerminal(["rotate", "--force", "--config", config])
        #expect(status == 0, "\(screen)")
        // Copied, then compressed: twice the file's bytes, all done, and the file named.
        let megabytes = ProgressLine.format(done: 2 * Int64(size), total: 2 * Int64(size), seconds: 1).prefix { $0 != "(" }
        #expect(screen.contains("\(megabytes)(100%)"), "\(screen)")
        #expect(screen.contains(fixture.logPath), "\(screen)")
        #expect(try FileSystem.status(fixture.logPath + ".1.gz") != nil)
    }
}
