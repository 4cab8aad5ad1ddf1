import EdgeLogCore
import EdgeLogRotation
import EdgeLogTestKit
import Foundation
import Testing

/// Never follow a symlink, never act outside the root, never rotate what is not a regular file.
@Suite struct SafetyTests {
    /// A folder beside the logs that nothing may touch.
    func outside(_ f: Fixture) throws -> String {
        let dir = normalized(try f.temp.makeDirectory("outside"))
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: dir + "/secret.log"))
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: dir + "/target"))
        return dir
    }

    @Test func aSymlinkPlantedWhereALogWasExpectedIsNotFollowed() async throws {
        let f = try Fixture()
        let out = try outside(f)
        let before = try snapshot(out)
        try FileManager.default.createSymbolicLink(atPath: f.path("app.log"), withDestinationPath: out + "/secret.log")
        try f.write("real.log", "real\n")
        let report = await f.rotator(f.settings()).pass(force: true)
        #expect(report.errors == ["rotation: \(f.path("app.log")) is a symbolic link; EdgeLog never follows one, not rotated"])
        #expect(f.counters[.rotationErrors] == 1)
        #expect(try snapshot(out) == before)
        #expect(try f.names() == ["app.log", "real.log", "real.log.1"])  // the other file still rotated
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: f.path("app.log")) == out + "/secret.log")
    }

    @Test func aGlobEscapingItsRootThroughASymlinkedFolderIsRefused() async throws {
        let f = try Fixture()
        let out = try outside(f)
        let before = try snapshot(out)
        let containers = normalized(try f.temp.makeDirectory("containers"))
        try FileManager.default.createDirectory(atPath: containers + "/good", withIntermediateDirectories: true)
        try Data("good\n".utf8).write(to: URL(fileURLWithPath: containers + "/good/good-json.log"))
        try FileManager.default.createSymbolicLink(atPath: containers + "/evil", withDestinationPath: out)
        // The default paths: <containersDirectory>/*/*-json.log; glob() alone would find outside/secret.log... as
        // evil/secret-json.log if it were named so: plant one.
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: out + "/evil-json.log"))
        let snapshotBefore = try snapshot(out)
        var settings = RotationSettings()
        settings.enabled = true
        let rotator = Rotator(
            settings: settings, containersDirectory: containers, stateDirectory: f.state, clock: f.clock, counters: f.counters)
        let report = await rotator.pass(force: true)
        #expect(report.errors.count == 1)
        #expect(report.errors.first?.contains("\(containers)/evil is a symbolic link: a match below it would reach outside the root \(containers)") == true)
        #expect(try snapshot(out) == snapshotBefore)
        #expect(before.count + 1 == snapshotBefore.count)
        #expect(fileStat(containers + "/good/good-json.log.1") != nil)
    }

    @Test func patternsOutsideTheRootsOrWithDotDotAreRefused() async throws {
        let f = try Fixture()
        let out = try outside(f)
        let before = try snapshot(out)
        var settings = f.settings()
        settings.roots = [f.logs]
        var other = RotationPolicySettings()
        other.paths = [out + "/*.log"]
        settings.policies = [other]
        var report = await f.rotator(settings).pass(force: true)
        #expect(report.errors == ["rotation.policies[0]: pattern \"\(out)/*.log\" reaches outside the rotation roots (\(f.logs), \(normalized(f.temp.file("containers")))); it is skipped"])
        settings.roots = []
        settings.policies[0].paths = [f.logs + "/../outside/*.log"]
        report = await f.rotator(settings).pass(force: true)
        #expect(report.errors.count == 1 && report.errors[0].contains("has a \".\" or \"..\" component"))
        #expect(try snapshot(out) == before)
    }

    @Test func onlyRegularFilesAreRotated() async throws {
        let f = try Fixture()
        #expect(mkfifo(f.path("pipe.log"), 0o644) == 0)
        try FileManager.default.createDirectory(atPath: f.path("dir.log"), withIntermediateDirectories: false)
        let report = await f.rotator(f.settings()).pass(force: true)
        #expect(report.errors.count == 2)
        #expect(report.errors.allSatisfy { $0.hasSuffix("is not a regular file; not rotated") })
        #expect(try f.names() == ["dir.log", "pipe.log"])
    }

    @Test func aSymlinkWhereARotatedFileBelongsStopsThatFile() async throws {
        let f = try Fixture()
        let out = try outside(f)
        let before = try snapshot(out)
        try f.write("x.log", "live\n")
        try f.write("x.log.1", "one\n")
        try FileManager.default.createSymbolicLink(atPath: f.path("x.log.2.gz"), withDestinationPath: out + "/target")
        let report = await f.rotator(f.settings()).pass(force: true)
        #expect(report.errors.count == 1 && report.errors[0].contains("x.log.2.gz in its folder is not a regular file"))
        #expect(try snapshot(out) == before)
        #expect(try f.read("x.log") == "live\n" && f.read("x.log.1") == "one\n")
    }

    @Test func nothingOutsideTheFolderIsWritten() async throws {
        // A full cycle of every kind of step leaves every other folder of the temp dir as it was.
        let f = try Fixture()
        let out = try outside(f)
        let before = try snapshot(out)
        try f.write("x.log", "live\n")
        try f.write("x.log.1", "one\n")
        try f.write("x.log.2", "two\n")
        try f.write("x.log.2.gz", "bogus")
        try f.write(".x.log.3.gz.edgelog-tmp", "partial")
        let report = await f.rotator(f.settings { $0.rotate = 2; $0.delayCompress = false }).pass(force: true)
        #expect(try snapshot(out) == before)
        // The leftover temporary went; x.log.2 and x.log.2.gz disagree, so both are left and x.log is not rotated.
        #expect(report.errors.count == 1 && report.errors[0].contains("both x.log.2 and x.log.2.gz exist"))
        #expect(try f.names() == ["x.log", "x.log.1", "x.log.2", "x.log.2.gz"])
    }
}
