import EdgeLogCore
import EdgeLogGzip
import EdgeLogRotation
import EdgeLogTestKit
import Foundation
import Testing

/// Disk full, vanishing files, permission errors: reported, counted, the rest proceeds, retried next pass.
@Suite struct FailureTests {
    @Test func diskFullDuringCompressionKeepsTheOriginal() async throws {
        let f = try Fixture()
        let text = (1...50_000).map { "line \($0) \(UInt64($0) &* 0x9E37_79B9_7F4A_7C15)\n" }.joined()
        try f.write("x.log.1", text)
        try f.write("x.log", "live\n")
        let ops = FaultyFileOperations()
        ops.update {
            $0.failWritesTo = ".edgelog-tmp"
            $0.writeBudget = 100_000
        }
        let report = await f.rotator(f.settings(), ops: ops).pass(force: true)
        #expect(report.rotations == 1)
        #expect(report.errors.count == 1)
        #expect(report.errors.first?.contains("compressing x.log.2 into x.log.2.gz failed (the disk is full); x.log.2 is kept") == true)
        #expect(f.counters[.rotationErrors] == 1)
        // No partial .gz, no temporary: the original is whole.
        #expect(try f.names() == ["x.log", "x.log.1", "x.log.2"])
        #expect(try f.read("x.log.2") == text)
        // Next pass, with room again: compressed.
        ops.update { $0.failWritesTo = nil }
        let retry = await f.rotator(f.settings(), ops: ops).pass()
        #expect(retry.errors.isEmpty)
        #expect(try f.names() == ["x.log", "x.log.1", "x.log.2.gz"])
        #expect(try f.read("x.log.2.gz") == text)
    }

    @Test func diskFullOnARealSmallFilesystem() async throws {
        // A 1 MiB tmpfs where this is allowed (root, mount permitted); the injection test above covers the rest.
        let f = try Fixture()
        let mountPoint = normalized(try f.temp.makeDirectory("tmpfs"))
        guard (try? ChildProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint]))?.status == 0 else {
            return  // covered by the injected ENOSPC test where mounting is not allowed
        }
        defer { _ = try? ChildProcess.run("/bin/umount", [mountPoint]) }
        // 700 KiB that does not compress, already rotated: compressing it needs ~700 KiB more than the disk has.
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<(700 * 1024)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try Data(noise).write(to: URL(fileURLWithPath: mountPoint + "/x.log.2"))
        try Data("live\n".utf8).write(to: URL(fileURLWithPath: mountPoint + "/x.log"))
        try Data("newest\n".utf8).write(to: URL(fileURLWithPath: mountPoint + "/x.log.1"))  // stays plain (delayCompress)
        var settings = RotationSettings()
        settings.policy.paths = [mountPoint + "/*.log"]
        let rotator = Rotator(settings: settings, containersDirectory: "/nonexistent", stateDirectory: f.state, clock: f.clock, counters: f.counters)
        let report = await rotator.pass()
        #expect(report.errors.count == 1 && report.errors.first?.contains("the disk is full") == true, "\(report.errors)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: mountPoint).sorted() == ["x.log", "x.log.1", "x.log.2"])
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: mountPoint + "/x.log.2"))) == noise)
    }

    @Test func aFileVanishingMidRotationIsReportedAndTheNextProceeds() async throws {
        let f = try Fixture()
        try f.write("a.log", "a\n")
        try f.write("b.log", "b\n")
        let ops = FaultyFileOperations()
        ops.update { $0.vanishOnOpen = "a.log" }
        let report = await f.rotator(f.settings(), ops: ops).pass(force: true)
        #expect(report.errors.count == 1 && report.errors[0].contains("a.log") && report.errors[0].contains("No such file"))
        #expect(report.rotations == 1)
        #expect(try f.names() == ["b.log", "b.log.1"])
        #expect(f.counters[.rotationErrors] == 1 && f.counters[.rotations] == 1)
    }

    @Test func aPermissionErrorStopsThatFileUntilNextPass() async throws {
        let f = try Fixture()
        try f.write("a.log", "a\n")
        try f.write("a.log.1", "a1\n")
        try f.write("b.log", "b\n")
        let ops = FaultyFileOperations()
        ops.update { $0.failRemoveOf = "a.log.1" }  // rotate 1: a.log.1 must go before a.log can rotate
        let settings = f.settings { $0.rotate = 1 }
        let report = await f.rotator(settings, ops: ops).pass(force: true)
        #expect(report.errors.count == 1 && report.errors[0].contains("cannot remove a.log.1") && report.errors[0].contains("Permission denied"))
        #expect(try f.read("a.log") == "a\n" && f.read("a.log.1") == "a1\n")
        #expect(try f.read("b.log.1") == "b\n")
        ops.update { $0.failRemoveOf = nil }
        let retry = await f.rotator(settings, ops: ops).pass(force: true)
        #expect(retry.errors.isEmpty)
        #expect(try f.read("a.log.1") == "a\n")
    }

    @Test func anInterruptedCompressionIsCleanedUpAndAHalfDoneOneSettled() async throws {
        let f = try Fixture()
        try f.write("x.log", "live\n")
        // A crash during compression left a temporary; a crash after the rename left both files.
        try f.write(".x.log.3.gz.edgelog-tmp", "half a gzip")
        try f.write("x.log.3", "three\n")
        try f.write("x.log.2", "two\n")
        try Data(Gzip.compress(Array("two\n".utf8))).write(to: URL(fileURLWithPath: f.path("x.log.2.gz")))
        let report = await f.rotator(f.settings()).pass()
        #expect(report.errors.isEmpty, "\(report.errors)")
        #expect(try f.names() == ["x.log", "x.log.2.gz", "x.log.3.gz"])
        #expect(try f.read("x.log.2.gz") == "two\n" && f.read("x.log.3.gz") == "three\n")
    }

    @Test func aDamagedStateFileIsMovedAsideAndAnUnknownVersionStopsThePass() async throws {
        let f = try Fixture()
        try f.write("x.log", "x\n")
        try FileManager.default.createDirectory(atPath: f.state, withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: f.state + "/rotation-state.json"))
        var report = await f.rotator(f.settings()).pass()
        #expect(report.errors.count == 1 && report.errors[0].contains("is damaged"))
        #expect(try f.stateEntries() == [f.path("x.log"): wednesday])
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.state).contains { $0.hasPrefix("rotation-state.json.damaged-") })
        try Data(#"{"version": 2, "files": {}}"#.utf8).write(to: URL(fileURLWithPath: f.state + "/rotation-state.json"))
        report = await f.rotator(f.settings()).pass(force: true)
        #expect(report.errors == ["\(f.state)/rotation-state.json has version 2; this EdgeLog reads version 1; no pass until it is moved away"])
        #expect(report.rotations == 0)
    }
}
