import EdgeLogCore
import EdgeLogJournal
import EdgeLogTestKit
import Foundation
import Testing

/// Following a live journal, and journals that are missing, corrupt or cut short.
@Suite struct JournalFollowTests {
    @Test func followsAppendedEntriesAndRotation() async throws {
        let h = try JournalHarness()
        // A long poll interval: new entries and files must be noticed through the journal's inotify fd.
        h.settings.pollIntervalSeconds = 60
        try h.writer.write((1...3).map { ExportEntry("start \($0)") })
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try await eventually("the first entries") { h.sink.records.count == 3 }

        try h.writer.write((1...3).map { ExportEntry("appended \($0)") })
        try await eventually("the appended entries") { h.sink.records.count == 6 }

        // journald's rotation: the live file is renamed to an archive name and a new live file started.
        try FileManager.default.moveItem(
            atPath: h.journalDirectory + "/system.journal",
            toPath: h.journalDirectory + "/system@0123456789abcdef0123456789abcdef-0000000000000001-0005eb2c4e4b1e00.journal")
        try h.writer.write((1...3).map { ExportEntry("rotated \($0)") })
        try await eventually("the entries after the rotation") { h.sink.records.count == 9 }

        pipeline.shutdown()
        _ = try await task.value
        let expected = (1...3).map { "start \($0)" } + (1...3).map { "appended \($0)" } + (1...3).map { "rotated \($0)" }
        #expect(try h.messages() == expected)
        // Everything read was committed: the saved cursor is the last entry's.
        #expect(JournalCursor.realtime(try #require(try h.savedCursor())) == h.writer.nextTime - 1000)
    }

    @Test func aMissingDirectoryIsWaitedForAndReadWhenItAppears() async throws {
        let h = try JournalHarness(createDirectory: false)
        // Once: nothing to read, no error.
        #expect(try await h.runOnce().counters[.recordsRead] == 0)

        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try FileManager.default.createDirectory(atPath: h.journalDirectory, withIntermediateDirectories: true)
        try h.writer.write([ExportEntry("hello"), ExportEntry("world")])
        try await eventually("the entries of the new directory") { h.sink.records.count == 2 }
        try h.writer.write([ExportEntry("and more")])
        try await eventually("an entry appended later") { h.sink.records.count == 3 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == ["hello", "world", "and more"])
    }

    @Test func corruptAndTruncatedFilesAreSkippedAndTheRestRead() async throws {
        let h = try JournalHarness()
        try h.writer.write((1...3).map { ExportEntry("good \($0)") }, to: "good.journal")
        try h.writer.write((1...3).map { ExportEntry("cut \($0)") }, to: "cut.journal")
        let cut = h.journalDirectory + "/cut.journal"
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: cut)
        let handle = try #require(FileHandle(forWritingAtPath: cut))
        try handle.truncate(atOffset: 4096)
        try handle.close()
        try h.writer.writeGarbage("garbage.journal")

        let p = try await h.runOnce()
        #expect(try h.messages() == (1...3).map { "good \($0)" })
        #expect(p.counters[.journalFilesSkipped] == 2)
    }

    @Test func explicitFilesSkipABadOneAndReadTheOthers() async throws {
        let h = try JournalHarness()
        try h.writer.write([ExportEntry("one"), ExportEntry("two")], to: "a.journal")
        try h.writer.writeGarbage("b.journal")
        try h.writer.write([ExportEntry("three")], to: "c.journal")
        h.settings.files = ["a.journal", "b.journal", "c.journal", "missing.journal"].map { h.journalDirectory + "/" + $0 }
        let p = try await h.runOnce()
        #expect(try h.messages() == ["one", "two", "three"])
        #expect(p.counters[.journalFilesSkipped] == 1)
    }

    @Test func stopsPromptlyWhenIdle() async throws {
        let h = try JournalHarness()
        h.settings.pollIntervalSeconds = 60
        try h.writer.write([ExportEntry("only")])
        let pipeline = try h.pipeline()
        let task = Task { try await pipeline.run(mode: .follow) }
        try await eventually("the entry") { h.sink.records.count == 1 }
        // The reader sleeps in poll() for up to 60 s; the stop request wakes it (the test would hang otherwise).
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == ["only"])
    }
}
