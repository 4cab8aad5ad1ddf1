import EdgeLogCore
import EdgeLogJournal
import EdgeLogTestKit
import Foundation
import Testing

/// A real `systemd-journald` (private mount namespace) receiving, over its native socket, entries with the fields
/// Docker's journald driver sends: EdgeLog follows the live journal, stops while a split message is open, and on its
/// restart ships the message whole and nothing twice.
@Suite(.serialized) struct RealJournaldTests {
    static let id = "f0f88f26c6dc02fe539cd8b5508d7956623de10047528720ff45d87b03b4c2a4"

    static func docker(_ message: String, priority: Int = 6, partial: (id: String, ordinal: Int, last: Bool)? = nil) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("MESSAGE", message), ("PRIORITY", String(priority)), ("SYSLOG_IDENTIFIER", String(id.prefix(12))),
            ("CONTAINER_ID", String(id.prefix(12))), ("CONTAINER_ID_FULL", id), ("CONTAINER_NAME", "modA"),
            ("CONTAINER_TAG", String(id.prefix(12))), ("IMAGE_NAME", "registry.example/moda:1.0"),
        ]
        if let partial {
            fields += [
                ("CONTAINER_PARTIAL_ID", partial.id), ("CONTAINER_PARTIAL_ORDINAL", String(partial.ordinal)),
                ("CONTAINER_PARTIAL_LAST", partial.last ? "true" : "false"),
            ]
            if !partial.last { fields.append(("CONTAINER_PARTIAL_MESSAGE", "true")) }
        }
        return fields
    }

    // Needs root (a mount namespace), util-linux's unshare and systemd-journald.
    @Test(.enabled(if: JournaldNamespace.unavailableReason == nil, "needs root, unshare and systemd-journald"))
    func aRestartWithASplitMessageOpenShipsItWholeAndNothingTwice() async throws {
        let ns = try await JournaldNamespace.start(withDocker: false)
        defer { ns.stop() }
        let h = try JournalHarness()
        h.containers = JournalContainers()
        // The open message must stay open while EdgeLog runs, however slow the machine (not shipped as it is).
        h.containers?.partialFlushSeconds = 3600
        h.settings.directory = ns.journalDirectory
        // Host filters no container entry passes.
        h.settings.identifiers = ["aziot-edged"]
        h.settings.maxPriority = 3
        let piece = String(repeating: "p", count: 16384)
        let partialId = "460a1cc8dc9dce4dc6e02fb500c346c0c29cd311950627ea0216e1010ca7832d"
        try ns.send(Self.docker(piece, partial: (partialId, 1, false)))
        try ns.send([("MESSAGE", "edged failed"), ("SYSLOG_IDENTIFIER", "aziot-edged"), ("PRIORITY", "3")])
        try ns.send(Self.docker("whole line", priority: 3))
        try ns.send(Self.docker(piece, partial: (partialId, 2, false)))

        var pipeline = try h.pipeline()
        var task = Task { [pipeline] in try await pipeline.run(mode: .follow) }
        try await eventually("the entries not split") { h.sink.records.count == 2 }
        pipeline.shutdown()
        _ = try await task.value
        #expect(try h.messages() == ["edged failed", "whole line"])
        #expect(try #require(try h.savedCursor()).hasSuffix("|" + partialId))

        try ns.send(Self.docker("end", partial: (partialId, 3, true)))
        try ns.send(Self.docker("", priority: 6))
        try ns.send(Self.docker("after"))
        pipeline = try h.pipeline()
        task = Task { [pipeline] in try await pipeline.run(mode: .follow) }
        try await eventually("the rejoined message and the lines after it") { h.sink.records.count == 5 }
        // Followed live: a line written now arrives too.
        try ns.send(Self.docker("live"))
        try await eventually("a line written while following") { h.sink.records.count == 6 }
        pipeline.shutdown()
        _ = try await task.value
        let r = try h.records()
        #expect(try h.messages() == ["edged failed", "whole line", piece + piece + "end", "", "after", "live"])
        #expect(r[1]["Stream"]?.stringValue == "stderr")
        #expect(r[2]["ModuleId"]?.stringValue == "modA")
        #expect(r[2]["ContainerImage"]?.stringValue == "registry.example/moda:1.0")
        // The rejoined message has its first piece's time: earlier than the lines around it that were sent later.
        let times = r.map { $0["TimeGenerated"]?.stringValue ?? "" }
        #expect(times[2] < times[0])
        #expect(!(try #require(try h.savedCursor())).contains("|"))
    }
}
