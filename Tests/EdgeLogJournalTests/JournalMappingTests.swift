import EdgeLogCore
import EdgeLogJournal
import EdgeLogTestKit
import Foundation
import Testing

/// Entries written to real journal files, read through the pipeline: the columns, Extra, filters, odd messages.
@Suite struct JournalMappingTests {
    @Test func entriesMapToTheRecordColumns() async throws {
        let h = try JournalHarness()
        try h.writer.write([
            ExportEntry(
                "edged started", unit: "aziot-edged.service", identifier: "aziot-edged", priority: 5,
                fields: [("_PID", "812"), ("_HOSTNAME", "gateway-7"), ("_COMM", "aziot-edged"), ("CODE_LINE", "42")]),
            ExportEntry("no identifier", priority: nil, fields: [("_COMM", "dockerd"), ("CONTAINER_NAME", "edgeHub")]),
            ExportEntry("bare", priority: 3),
        ])
        let p = try await h.runOnce()
        let r = try h.records()
        #expect(r.count == 3)
        #expect(r.map { $0["Message"]?.stringValue } == ["edged started", "no identifier", "bare"])
        #expect(r.map { $0["TimeGenerated"]?.stringValue } == [
            "2026-11-27T18:04:31.123456Z", "2026-11-27T18:04:31.124456Z", "2026-11-27T18:04:31.125456Z",
        ])
        #expect(r.map { $0["Level"]?.intValue } == [5, 6, 3])
        // Empty values are left out (the `records` section's default): no ModuleId without an identifier or
        // command, no Unit outside a unit, never the container columns.
        #expect(r.map { $0["ModuleId"]?.stringValue } == ["aziot-edged", "dockerd", nil])
        #expect(r.map { $0["Unit"]?.stringValue } == ["aziot-edged.service", nil, nil])
        for record in r {
            #expect(record["Source"]?.stringValue == "journal")
            #expect(record["Stream"]?.stringValue == "journal")
            #expect(record["Computer"]?.stringValue == "edge1")
            #expect(record["DeviceId"]?.stringValue == "dev1")
            #expect(record["IoTHub"]?.stringValue == "hub1")
            #expect(record["ContainerId"] == nil && record["ContainerImage"] == nil)
        }
        let boot = JSONValue.string(JournalWriter.bootID)
        #expect(r[0]["Extra"] == .object([("_PID", .string("812")), ("_HOSTNAME", .string("gateway-7")), ("_BOOT_ID", boot)]))
        #expect(r[1]["Extra"] == .object([("_BOOT_ID", boot), ("CONTAINER_NAME", .string("edgeHub"))]))
        // Columns in the table's order, Extra fields in the configured order.
        #expect(h.sink.records[0].contains("\"Extra\":{\"_PID\":\"812\",\"_HOSTNAME\":\"gateway-7\",\"_BOOT_ID\":"))
        #expect(p.counters[.recordsRead] == 3)
        #expect(p.counters[.readErrors] == 0)
    }

    @Test func unitsOrIdentifiersAndPriorityFilter() async throws {
        let h = try JournalHarness()
        h.settings.units = ["aziot-edged", "docker.service"]
        h.settings.identifiers = ["aziot-keyd"]
        h.settings.maxPriority = 4
        try h.writer.write([
            ExportEntry("edged err", unit: "aziot-edged.service", identifier: "aziot-edged", priority: 3),
            ExportEntry("edged info", unit: "aziot-edged.service", identifier: "aziot-edged", priority: 6),
            ExportEntry("docker warning", unit: "docker.service", identifier: "dockerd", priority: 4),
            ExportEntry("keyd crit", identifier: "aziot-keyd", priority: 2),
            ExportEntry("keyd notice", identifier: "aziot-keyd", priority: 5),
            ExportEntry("sshd err", unit: "ssh.service", identifier: "sshd", priority: 3),
            ExportEntry("edged without priority", unit: "aziot-edged.service", priority: nil),
            ExportEntry("kernel emerg", identifier: "kernel", priority: 0),
        ])
        try await h.runOnce()
        #expect(try h.messages() == ["edged err", "docker warning", "keyd crit"])
    }

    @Test func priorityUpToInfoKeepsEntriesWithoutPriorityAndStillMovesTheCursor() async throws {
        let h = try JournalHarness()
        h.settings.maxPriority = 6
        try h.writer.write([
            ExportEntry("info", priority: 6), ExportEntry("debug", priority: 7), ExportEntry("unset", priority: nil),
            ExportEntry("debug again", priority: 7),
        ])
        try await h.runOnce()
        #expect(try h.messages() == ["info", "unset"])
        #expect(try h.records().map { $0["Level"]?.intValue } == [6, 6])
        // The cursor points at the last entry read, filtered or not: a second run has nothing to re-send.
        let saved = try #require(try h.savedCursor())
        #expect(JournalCursor.field("i", of: saved) == "4")
        try await h.runOnce()
        #expect(try h.messages().count == 2)
    }

    @Test func multiLineAndBinaryMessagesAreKept() async throws {
        let h = try JournalHarness()
        try h.writer.write([
            ExportEntry("first line\nsecond line\n\tindented", identifier: "app"),
            ExportEntry(rawFields: [("MESSAGE", [0x6F, 0x6B, 0xFF, 0xFE, 0x00, 0x21]), ("SYSLOG_IDENTIFIER", Array("bin".utf8))]),
            ExportEntry("caf\u{E9} \u{1F600}", identifier: "app"),
        ])
        let p = try await h.runOnce()
        let r = try h.records()
        #expect(r.count == 3)
        #expect(r[0]["Message"]?.stringValue == "first line\nsecond line\n\tindented")
        #expect(r[0]["Extra"]?["binary"] == nil)
        #expect(r[1]["Message"]?.stringValue == "ok\u{FFFD}\u{FFFD}\u{0}!")
        #expect(r[1]["Extra"]?["binary"] == .array([.string("MESSAGE")]))
        #expect(r[1]["ModuleId"]?.stringValue == "bin")
        #expect(r[2]["Message"]?.stringValue == "caf\u{E9} \u{1F600}")
        #expect(r[2]["Extra"]?["binary"] == nil)
        #expect(p.counters[.invalidUTF8Replaced] == 2)
    }

    @Test func longFieldsAreCutAndCounted() async throws {
        let h = try JournalHarness()
        h.settings.maxFieldBytes = 1024
        h.settings.extraFields = ["CONTAINER_NAME", "NOTE"]
        let long = String(repeating: "m", count: 1023) + "\u{E9}" + String(repeating: "n", count: 2000)
        try h.writer.write([
            ExportEntry(long, fields: [("CONTAINER_NAME", String(repeating: "c", count: 3000)), ("NOTE", "short")]),
            ExportEntry("fits", fields: [("NOTE", String(repeating: "x", count: 1024))]),
        ])
        let p = try await h.runOnce()
        let r = try h.records()
        #expect(r.count == 2)
        // Cut at 1024 bytes without splitting the two-byte é.
        #expect(r[0]["Message"]?.stringValue == String(repeating: "m", count: 1023))
        #expect(r[0]["Extra"]?["CONTAINER_NAME"]?.stringValue == String(repeating: "c", count: 1024))
        #expect(r[0]["Extra"]?["NOTE"]?.stringValue == "short")
        #expect(r[0]["Extra"]?["truncated"] == .array([.string("MESSAGE"), .string("CONTAINER_NAME")]))
        #expect(r[1]["Extra"]?["NOTE"]?.stringValue?.count == 1024)
        #expect(r[1]["Extra"]?["truncated"] == nil)
        #expect(p.counters[.messagesTruncated] == 1)
        #expect(p.counters[.journalFieldsTruncated] == 1)
    }

    @Test func extraFieldPatternsSelectAllButExcluded() async throws {
        let h = try JournalHarness()
        h.settings.extraFields = ["*", "!_CAP_*", "!_BOOT_ID"]
        try h.writer.write([
            ExportEntry(
                "all", unit: "u.service", identifier: "id", priority: 4,
                fields: [("_PID", "1"), ("_CAP_EFFECTIVE", "0"), ("ZED", "last"), ("_COMM", "c"), ("A_FIELD", "first")])
        ])
        try await h.runOnce()
        let record = try #require(h.sink.records.first)
        // Sorted by name; the column fields (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, _SYSTEMD_UNIT) are not repeated.
        #expect(record.hasSuffix("\"Extra\":{\"A_FIELD\":\"first\",\"ZED\":\"last\",\"_COMM\":\"c\",\"_PID\":\"1\"}}"))
    }

    @Test func extraThatWouldNotFitInARecordIsOmittedAndNamed() async throws {
        let h = try JournalHarness()  // batch.maxBytes 64 KiB: Extra gets at most half a record
        h.settings.extraFields = ["BIG_*"]
        let big = String(repeating: "v", count: 20_000)
        try h.writer.write([
            ExportEntry(
                String(repeating: "m", count: 50_000), fields: [("BIG_A", big), ("BIG_B", big), ("BIG_C", big), ("BIG_D", "small")])
        ])
        let p = try await h.runOnce()
        let line = try #require(h.sink.records.first)
        #expect(line.utf8.count <= Int(h.configuration.batch.maxBytes) - 2)
        let record = try JSONParser.parse(line)
        #expect(record["Extra"]?["BIG_A"]?.stringValue == big)
        #expect(record["Extra"]?["BIG_D"]?.stringValue == "small")
        #expect(record["Extra"]?["omitted"] == .array([.string("BIG_B"), .string("BIG_C")]))
        // The message gave way to the fields that fit: cut, never dropped.
        let message = try #require(record["Message"]?.stringValue)
        #expect(message.count > 1000 && message.count < 50_000 && message.allSatisfy { $0 == "m" })
        #expect(p.counters[.journalFieldsTruncated] == 2)
        #expect(p.counters[.messagesTruncated] == 1)
    }

    @Test func manyEntriesArriveInOrderOnce() async throws {
        let h = try JournalHarness()
        let total = 3000
        try h.writer.write((0..<total).map { ExportEntry("entry \($0)", identifier: "bulk") })
        let p = try await h.runOnce()
        #expect(try h.messages() == (0..<total).map { "entry \($0)" })
        #expect(p.counters[.recordsDelivered] == total)
        #expect(h.sink.batches > 1)
    }
}
