import EdgeLogCore
import EdgeLogRotation
import EdgeLogTestKit
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Rotation's own state file is range-checked like every file EdgeLog reads back, and copytruncate never
/// truncates a file that has another name.
@Suite struct StateAndLinkTests {
    @Test(arguments: ["-1", "-9223372036854775808", "9223372036854775807", "1e300", "\"yesterday\""])
    func aLastRotatedOutOfRangeIsDamageNotATrap(_ value: String) async throws {
        let f = try Fixture()
        try f.write("app.log", "line\n")
        try FileSystem.makeDirectories(f.state)
        let document = "{\"version\": 1, \"files\": {\"\(f.path("app.log"))\": {\"lastRotated\": \(value)}}}"
        try FileSystem.writeAtomically(Array(document.utf8), to: f.state + "/rotation-state.json")
        let report = await f.rotator(f.settings { $0.schedule = "weekly" }).pass(force: false)
        #expect(report.errors.count == 1)
        #expect(report.errors.first?.contains("moved aside, starting with an empty state") == true)
        // First seen again: its schedule starts now.
        #expect(try f.stateEntries()[f.path("app.log")] == wednesday)
        #expect(try FileSystem.list(f.state)?.contains { $0.hasPrefix("rotation-state.json.damaged-") } == true)
        #expect(try f.read("app.log") == "line\n")
    }

    @Test func theStateFileIsPrivate() async throws {
        let f = try Fixture()
        try f.write("app.log", "line\n")
        _ = await f.rotator(f.settings()).pass(force: false)
        let st = try #require(try FileSystem.status(f.state + "/rotation-state.json"))
        #expect(st.st_mode & 0o777 == 0o600)
        let folder = try #require(try FileSystem.status(f.state))
        #expect(folder.st_mode & 0o777 == 0o700)
    }

    @Test func aFileWithAnotherHardLinkIsNotCopyTruncated() async throws {
        let f = try Fixture()
        let text = String(repeating: "line\n", count: 100)
        try f.write("app.log", text)
        let other = f.temp.file("other-name.log")
        #expect(link(f.path("app.log"), other) == 0)
        let report = await f.rotator(f.settings()).pass(force: true)
        #expect(report.errors.count == 1)
        #expect(report.errors.first?.contains("has 2 hard links") == true)
        #expect(f.counters[.rotationHardLinkRefusals] == 1)
        #expect(f.counters[.rotationErrors] == 1)
        // Nothing truncated, no copy left behind, the other name untouched.
        #expect(try f.read("app.log") == text)
        #expect(try Fixture.read(other) == text)
        #expect(try f.names() == ["app.log"])
    }

    @Test func renamingAHardLinkedFileIsStillAllowed() async throws {
        // Rename rotation leaves the other name on the old content, which is what a hard link means.
        let f = try Fixture()
        try f.write("app.log", "line\n")
        #expect(link(f.path("app.log"), f.temp.file("other-name.log")) == 0)
        let report = await f.rotator(f.settings { $0.copyTruncate = false }).pass(force: true)
        #expect(report.errors.isEmpty)
        #expect(f.counters[.rotationHardLinkRefusals] == 0)
        #expect(try f.names().contains("app.log.1"))
    }
}
