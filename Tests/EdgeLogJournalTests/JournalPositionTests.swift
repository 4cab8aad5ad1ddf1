import EdgeLogCore
import EdgeLogJournal
import EdgeLogTestKit
import Foundation
import Testing

/// Where reading starts and continues: readFrom, committed cursors across restarts, a cursor that is gone.
@Suite struct JournalPositionTests {
    @Test func restartContinuesRightAfterTheCommittedCursor() async throws {
        let h = try JournalHarness()
        try h.writer.write((1...5).map { ExportEntry("first run \($0)") })
        try await h.runOnce()
        #expect(try h.messages() == (1...5).map { "first run \($0)" })
        let saved = try #require(try h.savedCursor())
        #expect(JournalCursor.field("i", of: saved) == "5")

        try h.writer.write((1...4).map { ExportEntry("second run \($0)") })
        let p = try await h.runOnce()
        #expect(try h.messages() == (1...5).map { "first run \($0)" } + (1...4).map { "second run \($0)" })
        #expect(p.counters[.journalCursorGaps] == 0)

        // Nothing new: nothing sent again.
        try await h.runOnce()
        #expect(try h.messages().count == 9)
    }

    @Test func readFromEndSkipsOldEntriesAndRemembersWhereTheEndWas() async throws {
        let h = try JournalHarness()
        h.settings.readFrom = "end"
        try h.writer.write((1...5).map { ExportEntry("old \($0)") })
        try await h.runOnce()
        #expect(try h.messages().isEmpty)
        // The end is committed at once, so entries written while EdgeLog is down are not skipped later.
        #expect(JournalCursor.field("i", of: try #require(try h.savedCursor())) == "5")
        try h.writer.write([ExportEntry("new 1"), ExportEntry("new 2")])
        try await h.runOnce()
        #expect(try h.messages() == ["new 1", "new 2"])
    }

    @Test func aCursorThatIsGoneContinuesAfterItsTime() async throws {
        let h = try JournalHarness()
        try h.writer.write((1...3).map { ExportEntry("before \($0)") }, to: "old.journal")
        try await h.runOnce()
        let saved = try #require(try h.savedCursor())
        let savedTime = try #require(JournalCursor.realtime(saved))
        #expect(savedTime == JournalWriter.baseTime + 2000)

        // Vacuumed while EdgeLog was down: the old file is gone; a newer file holds entries from both sides of the
        // cursor's time (the older ones were already sent from the vacuumed file).
        try FileManager.default.removeItem(atPath: h.journalDirectory + "/old.journal")
        h.writer.setClock(JournalWriter.baseTime + 1000)
        try h.writer.write((1...4).map { ExportEntry("later \($0)") }, to: "new.journal")
        let p = try await h.runOnce()
        // later 1 has the time of "before 2", later 2 the cursor's own time: both are not after it.
        #expect(try h.messages() == (1...3).map { "before \($0)" } + ["later 3", "later 4"])
        #expect(p.counters[.journalCursorGaps] == 1)
    }

    @Test func changedFiltersStillFindTheSavedCursor() async throws {
        let h = try JournalHarness()
        try h.writer.write([ExportEntry("a1", unit: "a.service"), ExportEntry("b1", unit: "b.service")])
        try await h.runOnce()
        h.settings.units = ["a.service"]
        try h.writer.write([ExportEntry("b2", unit: "b.service"), ExportEntry("a2", unit: "a.service")])
        let p = try await h.runOnce()
        #expect(try h.messages() == ["a1", "b1", "a2"])
        #expect(p.counters[.journalCursorGaps] == 0)
    }

    @Test func cursorFieldsAreParsed() {
        let cursor = "s=4294ba9452ab4144955955d4d86e4629;i=2;b=0123456789abcdef0123456789abcdef;m=3e9;t=60a24181e4001;x=55d3149b18b866c3"
        #expect(JournalCursor.realtime(cursor) == 1_700_000_000_000_001)
        #expect(JournalCursor.field("i", of: cursor) == "2")
        #expect(JournalCursor.realtime("s=abc;i=1") == nil)
        #expect(JournalCursor.realtime("t=zz") == nil)
    }
}
