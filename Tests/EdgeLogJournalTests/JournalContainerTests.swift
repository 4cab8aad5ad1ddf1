import EdgeLogCore
import EdgeLogJournal
import EdgeLogTestKit
import Foundation
import Testing

/// Entries of Docker's journald driver, written as dockerd writes them (the fields and their order as a real dockerd
/// 20.10 sent them to a real journald), read from real journal files as container records.
@Suite struct JournalContainerTests {
    static let idA = "f0f88f26c6dc02fe539cd8b5508d7956623de10047528720ff45d87b03b4c2a4"
    static let idB = "0b1c2d3e4f5a0b1c2d3e4f5a0b1c2d3e4f5a0b1c2d3e4f5a0b1c2d3e4f5a0b1c"
    static let idSkip = "aaaa000000000000000000000000000000000000000000000000000000000001"
    static let idSelf = "eeee000000000000000000000000000000000000000000000000000000000002"

    /// One entry as dockerd's journald driver sends it.
    static func docker(
        _ message: String, id: String = idA, name: String = "modA", image: String? = "registry.example/moda:1.0",
        priority: Int = 6, partial: (id: String, ordinal: Int, last: Bool)? = nil, legacyPartial: Bool = false
    ) -> ExportEntry {
        var fields: [(String, String)] = [
            ("SYSLOG_IDENTIFIER", String(id.prefix(12))), ("CONTAINER_ID", String(id.prefix(12))), ("CONTAINER_ID_FULL", id),
            ("CONTAINER_NAME", name), ("CONTAINER_TAG", String(id.prefix(12))),
        ]
        if let image { fields.append(("IMAGE_NAME", image)) }
        fields += [("_TRANSPORT", "journal"), ("_COMM", "dockerd")]
        if let partial {
            fields += [
                ("CONTAINER_PARTIAL_ID", partial.id), ("CONTAINER_PARTIAL_ORDINAL", String(partial.ordinal)),
                ("CONTAINER_PARTIAL_LAST", partial.last ? "true" : "false"),
            ]
            if !partial.last { fields.append(("CONTAINER_PARTIAL_MESSAGE", "true")) }
        } else if legacyPartial {
            fields.append(("CONTAINER_PARTIAL_MESSAGE", "true"))
        }
        // ExportEntry puts SYSLOG_IDENTIFIER itself when given; here it is one of dockerd's fields.
        return ExportEntry(message, priority: priority, fields: fields)
    }

    static func time(_ micros: UInt64) -> String {
        var out: [UInt8] = []
        Timestamp.appendRFC3339(microseconds: micros, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func harness(containers: JournalContainers? = JournalContainers()) throws -> JournalHarness {
        let h = try JournalHarness()
        h.containers = containers
        return h
    }

    @Test func containerEntriesAreContainerRecordsWhateverTheHostFiltersSay() async throws {
        var containers = JournalContainers(lookup: { id in
            id == Self.idA
                ? ContainerInfo(
                    name: "modA", image: "from-config:1", labels: [("com.example.tier", "edge"), ("net.azure-devices.edge.env", "secret")])
                : nil
        })
        containers.labels = ["com.example.*"]
        containers.exclude = ["skipme"]
        containers.selfId = Self.idSelf
        let h = try harness(containers: containers)
        // Host filters that no container entry passes: one identifier, warnings and worse only.
        h.settings.identifiers = ["aziot-edged"]
        h.settings.maxPriority = 4
        let start = h.writer.nextTime
        try h.writer.write([
            ExportEntry("edged error", identifier: "aziot-edged", priority: 3),
            ExportEntry("edged info", identifier: "aziot-edged", priority: 6),
            ExportEntry("noise", identifier: "other", priority: 3),
            Self.docker("hello", image: nil),
            Self.docker("oops", image: nil, priority: 3),
            Self.docker("<4>careful", image: nil),
            Self.docker("", image: nil),
            Self.docker("from b", id: Self.idB, name: "/modB", image: "img/b:2"),
            Self.docker("skipped", id: Self.idSkip, name: "skipme"),
            Self.docker("my own line", id: Self.idSelf, name: "edgelog"),
        ])
        let p = try await h.runOnce()
        #expect(try h.messages() == ["edged error", "hello", "oops", "<4>careful", "", "from b"])
        let r = try h.records()
        #expect(r[0]["Source"]?.stringValue == "journal")
        #expect(r[0]["ModuleId"]?.stringValue == "aziot-edged")
        for (i, record) in r.enumerated().dropFirst() {
            #expect(record["Source"]?.stringValue == "docker")
            #expect(record["TimeGenerated"]?.stringValue == Self.time(start + UInt64(i + 2) * 1000))
            #expect(record["Unit"] == nil)
        }
        // ModuleId from CONTAINER_NAME, the short id (records.containerId "short"), the image from config.v2.json
        // when the entry has none, labels as selected.
        #expect(r[1]["ModuleId"]?.stringValue == "modA")
        #expect(r[1]["ContainerId"]?.stringValue == String(Self.idA.prefix(12)))
        #expect(r[1]["ContainerImage"]?.stringValue == "from-config:1")
        #expect(r[1]["Stream"]?.stringValue == "stdout")
        #expect(r[1]["Level"]?.intValue == 6)
        #expect(r[1]["Extra"]?["labels"]?["com.example.tier"]?.stringValue == "edge")
        #expect(r[1]["Extra"]?["labels"]?["net.azure-devices.edge.env"] == nil)
        #expect(r[2]["Stream"]?.stringValue == "stderr")
        #expect(r[2]["Level"]?.intValue == 3)
        #expect(r[3]["Level"]?.intValue == 4)
        #expect(r[3]["Stream"]?.stringValue == "stdout")
        #expect(r[4]["Message"]?.stringValue == "")
        #expect(r[5]["ModuleId"]?.stringValue == "modB")
        #expect(r[5]["ContainerImage"]?.stringValue == "img/b:2")
        #expect(r[5]["Extra"] == nil)
        #expect(p.counters[.recordsReadDocker] == 5)
        // Everything read was committed: a plain cursor (no split message is open).
        let saved = try #require(try h.savedCursor())
        #expect(!saved.contains("|"))
        #expect(JournalCursor.realtime(saved) == h.writer.nextTime - 1000)
    }

    @Test func withoutTheSwitchContainerEntriesAreHostEntries() async throws {
        let h = try harness(containers: nil)
        h.settings.identifiers = ["aziot-edged"]
        try h.writer.write([ExportEntry("edged", identifier: "aziot-edged"), Self.docker("hello")])
        try await h.runOnce()
        #expect(try h.messages() == ["edged"])

        let all = try harness(containers: nil)
        try all.writer.write([Self.docker("hello")])
        try await all.runOnce()
        let r = try all.records()
        #expect(r.count == 1)
        #expect(r[0]["Source"]?.stringValue == "journal")
        #expect(r[0]["ModuleId"]?.stringValue == String(Self.idA.prefix(12)))
    }

    @Test func hostEntriesOffReadsContainerEntriesOnly() async throws {
        let h = try harness()
        h.hostEntries = false
        try h.writer.write([ExportEntry("host line", identifier: "aziot-edged"), Self.docker("container line")])
        try await h.runOnce()
        #expect(try h.messages() == ["container line"])
    }

    @Test func splitMessagesAreRejoinedWithTheFirstPiecesTime() async throws {
        let h = try harness()
        let a1 = String(repeating: "a", count: 16384)
        let a2 = String(repeating: "b", count: 16384)
        let first = h.writer.nextTime
        try h.writer.write([
            Self.docker(a1, partial: ("p1", 1, false)),
            Self.docker("whole line of B", id: Self.idB, name: "modB"),
            Self.docker(a2, partial: ("p1", 2, false)),
            // An older engine: only CONTAINER_PARTIAL_MESSAGE=true; the next entry of that stream ends the message.
            Self.docker("legacy-1 ", id: Self.idB, name: "modB", legacyPartial: true),
            Self.docker("tail", partial: ("p1", 3, true)),
            Self.docker("legacy-2", id: Self.idB, name: "modB"),
            // A line of exactly 16 KiB: dockerd sends an empty last piece.
            Self.docker(a1, partial: ("p2", 1, false)),
            Self.docker("", partial: ("p2", 2, true)),
            Self.docker("after"),
        ])
        try await h.runOnce()
        let r = try h.records()
        #expect(try h.messages() == ["whole line of B", a1 + a2 + "tail", "legacy-1 legacy-2", a1, "after"])
        #expect(r[1]["TimeGenerated"]?.stringValue == Self.time(first))
        #expect(r[1]["ModuleId"]?.stringValue == "modA")
        #expect(r[2]["TimeGenerated"]?.stringValue == Self.time(first + 3000))
        #expect(r[3]["TimeGenerated"]?.stringValue == Self.time(first + 6000))
    }

    @Test func anOverlongMessageIsCutAndCountedAndPendingMemoryIsBounded() async throws {
        var containers = JournalContainers()
        containers.maxMessageBytes = 4096
        containers.maxPendingBytes = 6000
        let h = try harness(containers: containers)
        let piece = String(repeating: "x", count: 3000)
        try h.writer.write([
            Self.docker(piece, partial: ("long", 1, false)),
            Self.docker(piece, partial: ("long", 2, false)),
            Self.docker(piece, partial: ("long", 3, true)),
            // Two messages open at once past maxPendingBytes: the older is shipped cut, the rest of it later.
            Self.docker("1" + piece, partial: ("m1", 1, false)),
            Self.docker("2" + piece, id: Self.idB, name: "modB", partial: ("m2", 1, false)),
            Self.docker("1end", partial: ("m1", 2, true)),
            Self.docker("2end", id: Self.idB, name: "modB", partial: ("m2", 2, true)),
        ])
        let p = try await h.runOnce()
        let messages = try h.messages()
        #expect(messages.count == 4)
        #expect(messages[0] == String(repeating: "x", count: 4096))
        // m1 (3001 bytes) and m2's first piece make 6002 > 6000: m1 goes cut, its end comes as its own record.
        #expect(messages[1] == "1" + piece)
        #expect(messages[2] == "1end")
        #expect(messages[3] == "2" + piece + "2end")
        #expect(p.counters[.messagesTruncated] == 1)
        #expect(p.counters[.partialsCut] == 1)
    }

    @Test func aRunOnceShipsAMessageLeftOpen() async throws {
        let h = try harness()
        try h.writer.write([Self.docker("begun", partial: ("open", 1, false))])
        let p = try await h.runOnce()
        #expect(try h.messages() == ["begun"])
        #expect(p.counters[.partialsFlushed] == 1)
    }

    @Test func aRestartWithASplitMessageOpenShipsEveryLineOnce() async throws {
        var containers = JournalContainers()
        // The open message must stay open while EdgeLog runs, however slow the machine (not shipped as it is).
        containers.partialFlushSeconds = 3600
        let h = try harness(containers: containers)
        h.settings.pollIntervalSeconds = 0.05
        let first = h.writer.nextTime
        try h.writer.write([
            Self.docker("head-", partial: ("r1", 1, false)),
            ExportEntry("host between", identifier: "aziot-edged"),
            Self.docker("other line", id: Self.idB, name: "modB"),
        ])
        var pipeline = try h.pipeline()
        var task = Task { [pipeline] in try await pipeline.run(mode: .follow) }
        try await eventually("the lines not split") { h.sink.records.count == 2 }
        pipeline.shutdown()
        _ = try await task.value
        // The committed position holds the open message's first piece.
        let held = try #require(try h.savedCursor())
        #expect(held.contains("|"))
        #expect(held.hasSuffix("|r1"))

        try h.writer.write([Self.docker("tail", partial: ("r1", 2, true)), Self.docker("later")])
        pipeline = try h.pipeline()
        task = Task { [pipeline] in try await pipeline.run(mode: .follow) }
        try await eventually("the rejoined message and the line after it") { h.sink.records.count == 4 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == ["host between", "other line", "head-tail", "later"])
        #expect(try h.records()[2]["TimeGenerated"]?.stringValue == Self.time(first))
        let saved = try #require(try h.savedCursor())
        #expect(!saved.contains("|"))
        #expect(JournalCursor.realtime(saved) == h.writer.nextTime - 1000)
    }

    /// Filters, rate limits and redaction see a container line as a container record (rules match the module name,
    /// not a unit or identifier), and see it whole after its pieces are rejoined.
    @Test func filtersRateLimitsAndRedactionApplyByModule() async throws {
        let h = try harness()
        h.configuration.filters.rules = [
            FilterRule(match: FilterMatch(modules: ["modA"]), drop: ["^debug"]),
            FilterRule(match: FilterMatch(modules: ["modB"]), rateLimit: RateLimitSettings(linesPerSecond: 1, burst: 2)),
            // A rule by identifier: dockerd's SYSLOG_IDENTIFIER (the short id) is not what container records match.
            FilterRule(match: FilterMatch(identifiers: [String(Self.idA.prefix(12))]), drop: [".*"]),
        ]
        let secret = "SharedAccessKey=" + String(repeating: "k", count: 20000)
        try h.writer.write(
            [
                Self.docker("debug noise"), Self.docker("kept"),
                Self.docker(String(secret.prefix(16384)), partial: ("s1", 1, false)),
                Self.docker(String(secret.dropFirst(16384)), partial: ("s1", 2, true)),
            ] + (0..<5).map { Self.docker("b \($0)", id: Self.idB, name: "modB") })
        let p = try await h.runOnce()
        let messages = try h.messages()
        #expect(messages.count == 5)
        #expect(Array(messages.prefix(4)) == ["kept", "SharedAccessKey=<redacted>", "b 0", "b 1"])
        #expect(!h.sink.records.joined().contains("kkkkkkkk"))
        #expect(p.counters[.recordsFilteredDrop] == 1)
        #expect(p.counters[.recordsRateLimited] == 3)
        #expect(p.counters[.messagesRedacted] == 1)
        // The rate limit's report names the module.
        let report = try #require(try h.records().last)
        #expect(report["Source"]?.stringValue == "edgelog")
        #expect(report["ModuleId"]?.stringValue == "modB")
    }

    @Test func theFixtureIdsAreContainerIds() {
        for id in [Self.idA, Self.idB, Self.idSkip, Self.idSelf] {
            #expect(id.utf8.count == 64 && id.allSatisfy(\.isHexDigit))
        }
    }

    /// Any program may write these fields: an entry whose CONTAINER_ID_FULL is not a container id stays a host entry,
    /// and a partial id that is not dockerd's kind joins nothing (here the older flag still joins the pieces).
    @Test func forgedContainerFieldsAreNotTrusted() async throws {
        let h = try harness()
        try h.writer.write([
            ExportEntry("forged", identifier: "forger", fields: [("CONTAINER_ID_FULL", "../../../etc"), ("CONTAINER_NAME", "x")]),
            ExportEntry(
                "part1 ", priority: 6,
                fields: [
                    ("CONTAINER_ID_FULL", Self.idA), ("CONTAINER_NAME", "modA"), ("CONTAINER_PARTIAL_ID", "x|y,z"),
                    ("CONTAINER_PARTIAL_LAST", "false"), ("CONTAINER_PARTIAL_MESSAGE", "true"),
                ]),
            Self.docker("part2"),
        ])
        try await h.runOnce()
        let r = try h.records()
        #expect(try h.messages() == ["forged", "part1 part2"])
        #expect(r[0]["Source"]?.stringValue == "journal")
        #expect(r[0]["ModuleId"]?.stringValue == "forger")
        #expect(r[1]["Source"]?.stringValue == "docker")
    }

    @Test func dockerJournalSwitchIsRead() throws {
        func parse(_ docker: String) -> (DockerSettings, [String]) {
            let (config, diagnostics) = Configuration.parse(text: Array("{\"docker\":\(docker)}".utf8))
            return (config.docker, diagnostics.map(\.description))
        }
        #expect(parse("{}").0.journal == .auto)
        #expect(parse("{\"journal\":\"auto\"}").0.journal == .auto)
        #expect(parse("{\"journal\":true}").0.journal == .true)
        #expect(parse("{\"journal\":\"false\"}").0.journal == .false)
        let (bad, errors) = parse("{\"journal\":\"sometimes\"}")
        #expect(bad.journal == .auto)
        #expect(errors.count == 1)
        #expect(errors.first?.contains("docker.journal") == true)
        #expect(parse("{\"journal\":3}").1.count == 1)
        #expect(DockerSettings().json["journal"]?.stringValue == "auto")
    }
}
