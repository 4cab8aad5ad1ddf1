import EdgeLogCore
import EdgeLogJournal
import EdgeLogTestKit
import Foundation
import Testing

/// The `filters`, `redaction` and `records` sections applied to journal entries: real journal files, through
/// the pipeline.
@Suite struct JournalFilterTests {
    @Test func rulesMatchUnitsAndIdentifiers() async throws {
        let h = try JournalHarness()
        h.configuration.filters.rules = [
            FilterRule(match: FilterMatch(units: ["docker"]), maxLevel: 4),
            FilterRule(match: FilterMatch(identifiers: ["kernel"]), drop: ["^audit"]),
            FilterRule(match: FilterMatch(identifiers: ["aziot-*"]), keep: ["(?i)error"]),
        ]
        try h.writer.write([
            ExportEntry("pulling image", unit: "docker.service", identifier: "dockerd", priority: 6),
            ExportEntry("container died", unit: "docker.service", identifier: "dockerd", priority: 3),
            ExportEntry("audit: type=1400", identifier: "kernel", priority: 6),
            ExportEntry("usb 1-1: new device", identifier: "kernel", priority: 6),
            ExportEntry("started", unit: "aziot-edged.service", identifier: "aziot-edged", priority: 6),
            ExportEntry("Error: cannot reach the hub", unit: "aziot-edged.service", identifier: "aziot-edged", priority: 6),
            ExportEntry("other unit", unit: "ssh.service", identifier: "sshd", priority: 7),
        ])
        let p = try await h.runOnce()
        #expect(try h.messages() == ["container died", "usb 1-1: new device", "Error: cannot reach the hub", "other unit"])
        #expect(p.counters[.recordsFilteredLevel] == 1)
        #expect(p.counters[.recordsFilteredDrop] == 1)
        #expect(p.counters[.recordsFilteredKeep] == 1)
        #expect(p.counters[.recordsRead] == 7)
    }

    @Test func rateLimitPerUnitAndIdentifierWithItsReport() async throws {
        let h = try JournalHarness()
        h.configuration.filters.rules = [
            FilterRule(match: FilterMatch(units: ["chatty"]), rateLimit: RateLimitSettings(linesPerSecond: 1, burst: 2))
        ]
        try h.writer.write(
            (0..<6).map { ExportEntry("c \($0)", unit: "chatty.service", identifier: "chattyd") }
                + [ExportEntry("q 0", unit: "quiet.service", identifier: "quietd")])
        let p = try await h.runOnce()
        #expect(
            try h.messages() == [
                "c 0", "c 1", "q 0",
                "rate limit: dropped 4 lines of journal unit chatty.service (chattyd) in the last 1 s (filters.rules[0] lets 1 lines/s through, bursts of 2)",
            ])
        #expect(p.counters[.recordsRateLimited] == 4)
        let summary = try #require(try h.records().last)
        #expect(summary["Source"]?.stringValue == "edgelog")
        #expect(summary["ModuleId"]?.stringValue == "chattyd")
        #expect(summary["Unit"]?.stringValue == "chatty.service")
        #expect(summary["Level"]?.intValue == 4)
        #expect(summary["TimeGenerated"]?.stringValue == "2026-11-27T18:05:00.000000Z")
        #expect(summary["Extra"]?["dropped"]?.intValue == 4)
        #expect(summary["Extra"]?["source"]?.stringValue == "journal")
    }

    @Test func messagesAreRedactedAndColumnsChosen() async throws {
        let h = try JournalHarness()
        h.configuration.records.columns = ["TimeGenerated", "ModuleId", "Level", "Message"]
        h.configuration.redaction.rules = [RedactionRule(pattern: #"(?i)(password=)\S+"#, replacement: "$1***")]
        try h.writer.write([
            ExportEntry("GET /blob?sv=2024&sig=AbCdEf0123456789%2B&se=2026 200", unit: "upload.service", identifier: "uploader"),
            ExportEntry("login password=hunter2 ok", unit: "upload.service", identifier: "uploader"),
        ])
        let p = try await h.runOnce()
        #expect(try h.messages() == ["GET /blob?sv=2024&sig=<redacted>&se=2026 200", "login password=*** ok"])
        let shipped = h.sink.records.joined()
        #expect(!shipped.contains("AbCdEf0123456789") && !shipped.contains("hunter2"))
        #expect(p.counters[.messagesRedacted] == 2)
        #expect(try h.records().allSatisfy { $0.objectValue?.map(\.0) == ["TimeGenerated", "ModuleId", "Level", "Message"] })
    }

    @Test func theCursorMovesPastDroppedEntries() async throws {
        let h = try JournalHarness()
        h.configuration.filters.rules = [FilterRule(drop: ["^noise"])]
        try h.writer.write([ExportEntry("kept 1"), ExportEntry("noise 1"), ExportEntry("noise 2")])
        let first = try await h.runOnce()
        #expect(first.counters[.recordsFilteredDrop] == 2)
        // The committed cursor is the last (dropped) entry's: its realtime is the third entry's.
        let cursor = try #require(try h.savedCursor())
        #expect(JournalCursor.realtime(cursor) == JournalWriter.baseTime + 2000)
        try h.writer.write([ExportEntry("kept 2")])
        let second = try await h.runOnce()
        #expect(try h.messages() == ["kept 1", "kept 2"])
        #expect(second.counters[.recordsFilteredDrop] == 2)  // the persisted total: nothing dropped again
    }
}
