import EdgeLogCore
import EdgeLogRotation
import EdgeLogTestKit
import Foundation
import Testing

/// Rotation on real files: names, contents after gunzip, retention, triggers, modes.
@Suite struct RotationTests {
    @Test func numberedNamesFollowLogrotate() async throws {
        // logrotate with rotate 3, compress, delaycompress, copytruncate gives exactly these names after each run.
        let f = try Fixture()
        let rotator = f.rotator(f.settings { $0.rotate = 3 })
        let expected: [[String]] = [
            ["x.log", "x.log.1"],
            ["x.log", "x.log.1", "x.log.2.gz"],
            ["x.log", "x.log.1", "x.log.2.gz", "x.log.3.gz"],
            ["x.log", "x.log.1", "x.log.2.gz", "x.log.3.gz"],
        ]
        for (i, names) in expected.enumerated() {
            try f.write("x.log", "generation \(i + 1)\n")
            let report = await rotator.pass(force: true)
            #expect(report.errors.isEmpty, "\(report.errors)")
            #expect(try f.names() == names)
        }
        #expect(try f.read("x.log") == "")
        #expect(try f.read("x.log.1") == "generation 4\n")
        #expect(try f.read("x.log.2.gz") == "generation 3\n")
        #expect(try f.read("x.log.3.gz") == "generation 2\n")
        #expect(f.counters[.rotations] == 4)
        #expect(f.counters[.rotationFilesDeleted] == 1)  // generation 1, as x.log.4.gz
        #expect(f.counters[.rotationBytesCompressed] == 3 * 13)
    }

    @Test func compressWithoutDelayAndWithoutCompress() async throws {
        let f = try Fixture()
        try f.write("x.log", "one\n")
        _ = await f.rotator(f.settings { $0.delayCompress = false }).pass(force: true)
        #expect(try f.names() == ["x.log", "x.log.1.gz"])
        #expect(try f.read("x.log.1.gz") == "one\n")

        let g = try Fixture()
        let plain = g.rotator(g.settings { $0.compress = false; $0.rotate = 2 })
        for i in 1...3 {
            try g.write("x.log", "\(i)\n")
            _ = await plain.pass(force: true)
        }
        #expect(try g.names() == ["x.log", "x.log.1", "x.log.2"])
        #expect(try g.read("x.log.1") == "3\n" && g.read("x.log.2") == "2\n")
    }

    @Test func compressedFilesAreGzipReadableAndKeepTheirTimes() async throws {
        let f = try Fixture()
        let text = (1...20_000).map { "{\"log\":\"line \($0) with some payload\\n\",\"stream\":\"stdout\"}\n" }.joined()
        try f.write("x.log.1", text)
        try f.setModified("x.log.1", wednesday - 3_600)
        try f.write("x.log", "live\n")
        _ = await f.rotator(f.settings()).pass(force: true)
        #expect(try f.read("x.log.2.gz") == text)
        // gzip(1) itself reads it back.
        #expect(try ChildProcess.run("gzip", ["-t", f.path("x.log.2.gz")]).status == 0)
        // Like gzip, the .gz keeps the modification time of what it compressed (maxAgeDays ages it from there).
        #expect(Int64(fileStat(f.path("x.log.2.gz"))!.st_mtim.tv_sec) == wednesday - 3_600)
    }

    @Test func rotateZeroDiscards() async throws {
        let f = try Fixture()
        try f.write("x.log", "gone\n")
        try f.write("x.log.1", "old\n")
        let report = await f.rotator(f.settings { $0.rotate = 0 }).pass(force: true)
        #expect(report.errors.isEmpty)
        #expect(try f.names() == ["x.log"])
        #expect(try f.read("x.log") == "")
    }

    @Test func maxAgeDaysDeletesOlderRotatedFilesEveryPass() async throws {
        let f = try Fixture()
        let now = f.clock.now()
        try f.write("x.log", "live\n")
        for (name, age) in [("x.log.1", 7 * 86_400 - 120), ("x.log.2.gz", 7 * 86_400 + 120), ("x.log.3.gz", 20 * 86_400)] {
            try f.write(name, name)
            try f.setModified(name, now - Int64(age))
        }
        // No rotation is due (first seen), yet the expired files go: age is checked on every pass.
        let report = await f.rotator(f.settings()).pass()
        #expect(report.rotations == 0)
        #expect(try f.names() == ["x.log", "x.log.1"])
        #expect(f.counters[.rotationFilesDeleted] == 2)
        #expect(report.actions.contains { $0.contains("x.log.3.gz") && $0.contains("older than maxAgeDays 7") })
    }

    @Test func dateExtNamesDailyHourlyAndRepeats() async throws {
        let f = try Fixture()
        let rotator = f.rotator(f.settings { $0.dateExt = true; $0.delayCompress = false })
        try f.write("x.log", "first\n")
        _ = await rotator.pass(force: true)
        try f.write("x.log", "second\n")
        _ = await rotator.pass(force: true)
        #expect(try f.names() == ["x.log", "x.log-20261125-2.gz", "x.log-20261125.gz"])
        #expect(try f.read("x.log-20261125.gz") == "first\n" && f.read("x.log-20261125-2.gz") == "second\n")

        let h = try Fixture()
        try h.write("x.log", "hourly\n")
        _ = await h.rotator(h.settings { $0.dateExt = true; $0.schedule = "hourly" }).pass(force: true)
        #expect(try h.names() == ["x.log", "x.log-2026112510"])
    }

    @Test func dateExtKeepsTheNewestRotate() async throws {
        let f = try Fixture()
        for day in 18...24 {
            try f.write("x.log-202611\(day).gz", "\(day)")
        }
        try f.write("x.log", "today\n")
        _ = await f.rotator(f.settings { $0.dateExt = true; $0.rotate = 3; $0.maxAgeDays = 0 }).pass(force: true)
        #expect(try f.names() == ["x.log", "x.log-20261123.gz", "x.log-20261124.gz", "x.log-20261125"])
    }

    @Test func scheduleWithInjectedClock() async throws {
        let f = try Fixture()
        let rotator = f.rotator(f.settings())
        try f.write("x.log", "day one\n")
        // First seen: recorded, not rotated.
        var report = await rotator.pass()
        #expect(report.rotations == 0)
        #expect(try f.stateEntries() == [f.path("x.log"): wednesday])
        // Later the same day: nothing.
        f.clock.advance(12 * 3_600)
        report = await rotator.pass()
        #expect(report.rotations == 0)
        #expect(try f.names() == ["x.log"])
        // Past midnight UTC: rotated, and the state says when.
        f.clock.advance(2 * 3_600)
        report = await rotator.pass()
        #expect(report.rotations == 1)
        #expect(try f.names() == ["x.log", "x.log.1"])
        #expect(try f.stateEntries() == [f.path("x.log"): f.clock.now()])
    }

    @Test func weeklyAndHourlyWithInjectedClock() async throws {
        let f = try Fixture()
        let weekly = f.rotator(f.settings { $0.schedule = "weekly" })
        try f.write("x.log", "a\n")
        _ = await weekly.pass()  // Wednesday: first seen
        f.clock.set(UTCTime.epochSeconds(year: 2026, month: 11, day: 29, hour: 23))  // Sunday, same ISO week
        #expect(await weekly.pass().rotations == 0)
        f.clock.set(UTCTime.epochSeconds(year: 2026, month: 11, day: 30, hour: 0, minute: 1))  // Monday
        #expect(await weekly.pass().rotations == 1)

        let h = try Fixture()
        let hourly = h.rotator(h.settings { $0.schedule = "hourly" })
        try h.write("x.log", "a\n")
        _ = await hourly.pass()
        h.clock.advance(29 * 60)  // 10:59
        #expect(await hourly.pass().rotations == 0)
        h.clock.advance(60)  // 11:00
        #expect(await hourly.pass().rotations == 1)
    }

    @Test func maxSizeAloneIsSizeOnly() async throws {
        let f = try Fixture()
        var settings = f.settings()
        settings.policy.maxSize = 100
        settings.policy.schedule = "none"
        let rotator = f.rotator(settings)
        try f.write("x.log", String(repeating: "a", count: 100))
        #expect(await rotator.pass().rotations == 0)  // not over
        f.clock.advance(30 * 86_400)
        #expect(await rotator.pass().rotations == 0)  // no schedule
        try f.append("x.log", "b")
        #expect(await rotator.pass().rotations == 1)
        #expect(try f.read("x.log.1").count == 101)
    }

    @Test func notIfEmptyAndMissingOk() async throws {
        let f = try Fixture()
        try f.write("x.log", "")
        var report = await f.rotator(f.settings()).pass(force: true)
        #expect(report.rotations == 0 && report.errors.isEmpty)
        report = await f.rotator(f.settings { $0.notIfEmpty = false }).pass(force: true)
        #expect(report.rotations == 1)

        let g = try Fixture()
        report = await g.rotator(g.settings()).pass()
        #expect(report.errors.isEmpty && report.notes.contains { $0.contains("matches no file") })
        report = await g.rotator(g.settings { $0.missingOk = false }).pass()
        #expect(report.errors.count == 1 && report.errors[0].contains("missingOk is false"))
        #expect(g.counters[.rotationErrors] == 1)
    }

    @Test func renameModeMovesTheFileItself() async throws {
        let f = try Fixture()
        try f.write("x.log", "renamed\n")
        let inode = fileStat(f.path("x.log"))!.st_ino
        let report = await f.rotator(f.settings { $0.copyTruncate = false }).pass(force: true)
        #expect(report.errors.isEmpty)
        #expect(try f.names() == ["x.log.1"])  // the writer creates a new x.log when it reopens
        #expect(fileStat(f.path("x.log.1"))!.st_ino == inode)
    }

    // Giving the files to another owner (chown) needs root; CI runs the tests as root.
    @Test(.enabled(if: getuid() == 0, "chown to another owner needs root"))
    func ownershipAndModeAreKept() async throws {
        let f = try Fixture()
        try f.write("x.log", "owned\n")
        try f.write("x.log.1", "older\n")
        for name in ["x.log", "x.log.1"] {
            #expect(chown(f.path(name), 65534, 65534) == 0 && chmod(f.path(name), 0o640) == 0)
        }
        let report = await f.rotator(f.settings()).pass(force: true)
        #expect(report.errors.isEmpty, "\(report.errors)")
        for name in ["x.log.1", "x.log.2.gz"] {
            let st = try #require(fileStat(f.path(name)), "\(name)")
            #expect(st.st_uid == 65534 && st.st_gid == 65534, "\(name)")
            #expect(st.st_mode & 0o7777 == 0o640, "\(name)")
        }
    }

    @Test func dryRunChangesNothing() async throws {
        let f = try Fixture()
        try f.write("x.log", "live\n")
        try f.write("x.log.1", "one\n")
        try f.write("x.log.7.gz", "seven")
        try f.write(".x.log.2.gz.edgelog-tmp", "partial")
        let before = try snapshot(f.temp.path)
        let report = await f.rotator(f.settings()).pass(force: true, dryRun: true)
        #expect(try snapshot(f.temp.path) == before)
        #expect(report.dryRun && report.rotations == 1)
        #expect(
            report.actions == [
                "would remove the leftover temporary \(f.logs)/.x.log.2.gz.edgelog-tmp",
                "would remove \(f.logs)/x.log.7.gz (5 bytes, beyond rotate 7)",
                "would rename \(f.logs)/x.log.1 to x.log.2",
                "would copy \(f.logs)/x.log to x.log.1 and truncate it (forced)",
                "would compress \(f.logs)/x.log.2 into x.log.2.gz (gzip level 6)",
            ])
        #expect(fileStat(f.state + "/rotation-state.json") == nil)
    }

    @Test func budgetDeletesOldestRotatedNeverLive() async throws {
        let f = try Fixture()
        var settings = f.settings { $0.compress = false }
        settings.maxTotalBytes = 2_500
        try f.write("a.log", String(repeating: "a", count: 1_000))
        try f.write("b.log", String(repeating: "b", count: 1_000))
        try f.write("a.log.1", String(repeating: "1", count: 800))
        try f.write("a.log.2", String(repeating: "2", count: 800))
        try f.setModified("a.log.1", wednesday - 100)
        try f.setModified("a.log.2", wednesday - 200)
        let report = await f.rotator(settings).pass()
        #expect(report.errors.isEmpty)
        // 3600 bytes: the oldest (a.log.2) goes, then a.log.1; live files stay whole.
        #expect(try f.names() == ["a.log", "b.log"])
        #expect(try f.read("a.log").count == 1_000 && f.read("b.log").count == 1_000)

        // Live files alone over the budget: they are rotated and their rotated copies deleted.
        settings.maxTotalBytes = 1_500
        let again = await f.rotator(settings).pass()
        #expect(again.errors.isEmpty)
        let total = try f.names().reduce(0) { $0 + (try f.read($1).count) }
        #expect(total <= 1_500)
        #expect(try f.names().contains("a.log") && f.names().contains("b.log"))
    }

    @Test func policiesApplyTheirOwnOptions() async throws {
        let f = try Fixture()
        let other = normalized(try f.temp.makeDirectory("logs/other"))
        var settings = f.settings { $0.rotate = 2; $0.delayCompress = false }
        var policy = RotationPolicySettings()
        policy.paths = [other + "/*.txt"]
        policy.dateExt = true
        policy.compress = false
        policy.maxTotalBytes = 30
        settings.policies = [policy]
        try f.write("a.log", "top-level policy\n")
        try Data("second policy\n".utf8).write(to: URL(fileURLWithPath: other + "/b.txt"))
        // Older dated files of b.txt beyond its own budget of 30 bytes: the oldest goes.
        try Data("0123456789\n".utf8).write(to: URL(fileURLWithPath: other + "/b.txt-20261120"))
        try Data("0123456789\n".utf8).write(to: URL(fileURLWithPath: other + "/b.txt-20261121"))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(wednesday - 5 * 86_400))], ofItemAtPath: other + "/b.txt-20261120")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(wednesday - 4 * 86_400))], ofItemAtPath: other + "/b.txt-20261121")
        let report = await f.rotator(settings).pass(force: true)
        #expect(report.errors.isEmpty, "\(report.errors)")
        #expect(try f.names() == ["a.log", "a.log.1.gz", "other"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: other).sorted() == ["b.txt", "b.txt-20261121", "b.txt-20261125"])
        #expect(try Fixture.read(other + "/b.txt-20261125") == "second policy\n")
    }

    @Test func minSizeHoldsTheScheduleOnRealFiles() async throws {
        let f = try Fixture()
        let rotator = f.rotator(f.settings { $0.minSize = 10 })
        try f.write("x.log", "small\n")
        _ = await rotator.pass()
        f.clock.advance(86_400)
        #expect(await rotator.pass().rotations == 0)
        try f.append("x.log", "now larger\n")
        #expect(await rotator.pass().rotations == 1)
    }

    @Test func compressionLevelIsApplied() async throws {
        let text = (1...30_000).map { "line \($0) of a json-file log with a message \($0 % 977)\n" }.joined()
        var sizes: [Int64: Int] = [:]
        for level: Int64 in [1, 9] {
            let f = try Fixture()
            try f.write("x.log", text)
            _ = await f.rotator(f.settings { $0.delayCompress = false; $0.compressionLevel = level }).pass(force: true)
            #expect(try f.read("x.log.1.gz") == text)
            sizes[level] = try Data(contentsOf: URL(fileURLWithPath: f.path("x.log.1.gz"))).count
        }
        #expect(sizes[9]! < sizes[1]!)
    }

    @Test func aPassIsSkippedWhileAnotherHoldsTheLock() async throws {
        let f = try Fixture()
        try f.write("x.log", "x\n")
        try FileManager.default.createDirectory(atPath: f.state, withIntermediateDirectories: true)
        let fd = open(f.state + "/rotation.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(flock(fd, LOCK_EX) == 0)
        let report = await f.rotator(f.settings()).pass(force: true)
        #expect(report.errors.count == 1 && report.errors[0].contains("another rotation pass holds"))
        #expect(try f.names() == ["x.log"])
        close(fd)
        #expect(await f.rotator(f.settings()).pass(force: true).rotations == 1)
    }
}
