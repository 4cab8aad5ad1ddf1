import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Testing

@testable import EdgeLogApp

@Suite struct CodePageTrimmerTests {
    /// What `/proc/self/smaps` says of the kinds of mappings a process has.
    static let smaps = """
        5600aa000000-5600ab000000 r-xp 00000000 08:01 1234       /usr/local/bin/edgelog
        Size:              16384 kB
        Rss:                9000 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me sd
        5600ab000000-5600ab100000 r--p 01000000 08:01 1234       /usr/local/bin/edgelog
        Size:               1024 kB
        Rss:                 800 kB
        Anonymous:           792 kB
        5600ab100000-5600ab200000 rw-p 01100000 08:01 1234       /usr/local/bin/edgelog
        Rss:                 300 kB
        Anonymous:           120 kB
        5600ab200000-5600ab300000 r--p 01200000 08:01 1234       /usr/local/bin/edgelog
        Rss:                   0 kB
        Anonymous:             0 kB
        5600ab300000-5600ab400000 rw-p 00000000 00:00 0          [heap]
        Rss:                 500 kB
        Anonymous:           500 kB
        7f0000000000-7f0000100000 r-xp 00028000 08:01 99         /usr/lib/x86_64-linux-gnu/libc.so.6
        Rss:                1136 kB
        Anonymous:             0 kB
        7f0000200000-7f0000300000 r--s 00000000 08:01 77         /var/log/journal/m/system.journal
        Rss:                 400 kB
        Anonymous:             0 kB
        7f0000400000-7f0000500000 r-xp 00000000 08:01 55         /opt/lib/libnot-a-library
        Rss:                 100 kB
        Anonymous:             0 kB
        7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0          [vdso]
        Rss:                   8 kB
        Anonymous:             0 kB
        """

    @Test func onlyCleanReadOnlyMappingsOfTheProgramAndItsLibrariesAreDropped() {
        let regions = SmapsRegion.droppableCode(Array(Self.smaps.utf8), executable: "/usr/local/bin/edgelog")
        #expect(
            regions == [
                SmapsRegion(start: 0x5600_aa00_0000, end: 0x5600_ab00_0000, residentBytes: 9000 * 1024),
                SmapsRegion(start: 0x7f00_0000_0000, end: 0x7f00_0010_0000, residentBytes: 1136 * 1024),
            ])
        // Relocated (copied) data, writable mappings, the heap, data files and the vDSO are never candidates.
        let other = SmapsRegion.droppableCode(Array(Self.smaps.utf8), executable: "/usr/bin/other")
        #expect(other.map(\.start) == [0x7f00_0000_0000])
    }

    @Test func damagedTextYieldsNothingToDrop() {
        for text in ["", "garbage", "zz-yy r-xp 0 0 0 /usr/lib/libc.so.6\nRss: 4 kB\nAnonymous: 0 kB", "5600aa000000-5600aa000000 r-xp"] {
            #expect(SmapsRegion.droppableCode(Array(text.utf8), executable: "/x").isEmpty)
        }
    }

    static func residentFileKilobytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssFile:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    /// In this very process (the test runner, with every other test running beside it): the program's code pages
    /// go and everything keeps working, because what runs again is mapped back.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/smaps"), "needs Linux /proc"))
    func dropsResidentCodeOfThisProcessAndItKeepsRunning() throws {
        let before = try Self.residentFileKilobytes()
        let dropped = CodePageTrimmer.trim()
        let after = try Self.residentFileKilobytes()
        #expect(dropped > 1 << 20, "at least a megabyte of code was resident in the test runner")
        #expect(after < before, "RssFile \(before) kB before, \(after) kB after dropping \(dropped) bytes")
        // Code that ran before runs again.
        let parsed = try JSONParser.parse(Array(#"{"a": "two"}"#.utf8))
        #expect(parsed["a"]?.stringValue == "two")
    }

    /// glibc takes the arena limit unless the environment already sets one (then the environment's holds).
    @Test func theArenaLimitIsTakenUnlessTheEnvironmentSetsOne() {
        let fromEnvironment = ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] != nil
        #expect(MallocArenas.limitUnlessSet() == !fromEnvironment)
    }

    /// The binary trims its code pages as it starts and keeps shipping afterwards.
    @Test func theRunningBinaryTrimsAndKeepsShipping() async throws {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        let container = try DockerContainerFixture(root: root, name: "module0")
        try container.log((0..<10).map { "first \($0)" })
        let config = try BinaryHarness.writeConfig(
            dir,
            """
            {"stateDirectory": "\(dir.path)/state",
             "docker": {"containersDirectory": "\(root)", "excludeSelf": false, "pollIntervalSeconds": 0.1},
             "batch": {"flushIntervalSeconds": 0.1}, "metrics": {"enabled": false},
             "sink": {"type": "file", "directory": "\(dir.path)/out"}}
            """)
        let running = try BinaryHarness.start(["run", "--config", config, "--log-level", "debug"])
        defer {
            running.signal(SIGTERM)
            _ = running.wait()
        }
        try await eventually("code pages given back") {
            running.stderr.split(separator: "\n").contains { line in
                guard let range = line.range(of: "gave back ") else { return false }
                let number = line[range.upperBound...].prefix { $0.isNumber }
                return (Int(number) ?? 0) > 0
            }
        }
        try container.log((0..<10).map { "after \($0)" })
        try await eventually("lines written after the trim shipped") {
            (try? BinaryHarness.shipped(dir.path + "/out").count) == 20
        }
        #expect(running.terminatingSignal == nil)
    }
}
