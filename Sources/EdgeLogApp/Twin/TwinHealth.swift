import EdgeLogCore
import EdgeLogDocker
import EdgeLogJournal
import EdgeLogTwin

/// The `health` reported property and the `getStatus` answer, from what the running pipeline exposes.
/// Keys never contain `.`, `$`, `#` or spaces (twin rules): file paths are values, not keys.
enum TwinHealth {
    static func document(supervisor: Supervisor, nowMillis: Int64 = FileSystem.nowMillis()) -> JSONValue {
        guard let pipeline = supervisor.pipeline else {
            var members: [(String, JSONValue)] = [
                ("running", .bool(false)), ("generation", .int(Int64(supervisor.generation))),
            ]
            if let reason = supervisor.notRunningReason { members.append(("reason", .string(String(reason.prefix(500))))) }
            return .object(members)
        }
        let c = pipeline.counters
        func n(_ name: Counters.Name) -> JSONValue { .int(Int64(c[name])) }
        let spooled = pipeline.spool.snapshot
        var sources: [JSONValue] = []
        for (key, position) in pipeline.checkpoints.positions.sorted(by: { $0.key < $1.key }) {
            switch position {
            case .file(let f):
                var fields: [(String, JSONValue)] = [("source", .string(key)), ("path", .string(f.path)), ("offset", .int(f.offset))]
                if let backlog = StatusReport.dockerBacklog(key: key, position: f) {
                    fields.append(("lagBytes", .int(backlog.bytes)))
                    fields.append(("unreadRotatedFiles", .int(Int64(backlog.unreadRotatedFiles))))
                } else if let st = try? FileSystem.status(f.path), UInt64(st.st_ino) == f.inode {
                    fields.append(("lagBytes", .int(max(0, Int64(st.st_size) - f.offset))))
                }
                sources.append(.object(fields))
            case .cursor(let cursor):
                sources.append(
                    journalPosition(key: key, cursor: cursor, units: supervisor.configuration.journal.units, nowMillis: nowMillis))
            }
        }
        let filesFollowed = sources.count
        if sources.count > 50 { sources = Array(sources.prefix(50)) }  // the twin holds 32 KB
        var writeBlocked: JSONValue = .null
        if let blocked = pipeline.spool.writeBlocked {
            writeBlocked = .object([
                ("since", .string(rfc3339(millis: blocked.sinceMillis))), ("diskFull", .bool(blocked.diskFull)),
                ("reason", .string(String(blocked.reason.prefix(300)))), ("attempts", .int(Int64(blocked.attempts))),
            ])
        }
        let spoolDoc: JSONValue = .object([
            ("batches", .int(Int64(spooled.count))),
            ("records", .int(Int64(spooled.reduce(0) { $0 + $1.records }))),
            ("bytes", .int(spooled.reduce(0) { $0 + $1.bytes })),
            ("oldestAgeSeconds", spooled.first.map { JSONValue.int(max(0, nowMillis - $0.createdMillis) / 1000) } ?? .null),
            ("writeBlocked", writeBlocked),
        ])
        var reset: JSONValue = .null
        if let last = pipeline.checkpoints.lastReset {
            reset = .object([
                ("time", .string(rfc3339(millis: last.atMillis))), ("reason", .string(String(last.reason.prefix(300)))),
                ("setAside", .string(last.setAside)), ("rebuiltPositions", .int(Int64(last.rebuiltPositions))),
            ])
        }
        let checkpointsDoc: JSONValue = .object([
            ("resets", n(.checkpointResets)), ("sourcesFromReadFrom", n(.checkpointResetSources)), ("lastReset", reset),
        ])
        let dropped = Int64(c[.spoolDroppedTTLRecords] + c[.spoolDroppedSizeRecords])
        let records: JSONValue = .object([
            ("read", n(.recordsRead)), ("shipped", n(.recordsDelivered)), ("dropped", .int(dropped)),
            ("truncated", n(.messagesTruncated)), ("deadLettered", n(.recordsDeadLettered)), ("malformedLines", n(.linesMalformed)),
            ("damaged", n(.spoolDamagedRecords)),
            ("dockerRotationGaps", n(.dockerRotationGaps)), ("dockerBytesLost", n(.dockerBytesLost)),
            (
                "filtered",
                .object([
                    ("level", n(.recordsFilteredLevel)), ("drop", n(.recordsFilteredDrop)),
                    ("keep", n(.recordsFilteredKeep)), ("rateLimit", n(.recordsRateLimited)),
                ])
            ),
            ("redacted", n(.messagesRedacted)),
        ])
        let lastDelivery: JSONValue = pipeline.driver.lastDeliveryMillis.map { JSONValue.string(rfc3339(millis: $0)) } ?? .null
        let lastError: JSONValue = pipeline.driver.lastError.map { JSONValue.string(String($0.prefix(500))) } ?? .null
        // Containers whose logging driver writes no file EdgeLog reads (at most 20: the twin holds 32 KB).
        var unread: [JSONValue] = []
        let docker = supervisor.configuration.docker
        if docker.enabled {
            for c in UnreadContainer.list(containersDirectory: docker.containersDirectory).prefix(20) {
                unread.append(
                    .object([
                        ("container", .string(String(c.name.prefix(100)))), ("driver", .string(c.driver.description)),
                        ("collected", .string(c.collected(docker))),
                    ]))
            }
        }
        let sourcesDoc: JSONValue = .object([
            ("followed", .int(Int64(filesFollowed))), ("positions", .array(sources)),
            ("dockerNotReadFromFiles", .array(unread)),
        ])
        return .object([
            ("running", .bool(true)),
            ("generation", .int(Int64(supervisor.generation))),
            ("sources", sourcesDoc),
            ("spool", spoolDoc),
            ("checkpoints", checkpointsDoc),
            ("lastDeliveryTime", lastDelivery),
            ("lastDeliveryError", lastError),
            ("records", records),
            ("counters", c.json),
        ])
    }

    /// The journal's lag: when the newest shipped entry was written (from the committed cursor's `t=`) and how
    /// long ago that is, with the units followed (`all` without a filter).
    static func journalPosition(key: String, cursor: String, units: [String], nowMillis: Int64) -> JSONValue {
        var fields: [(String, JSONValue)] = [("source", .string(key)), ("kind", .string("journal"))]
        fields.append(("units", units.isEmpty ? .string("all") : .array(units.map { .string($0) })))
        if let micros = JournalCursor.realtime(cursor) {
            let millis = Int64(micros / 1000)
            fields.append(("committedEntryTime", .string(rfc3339(millis: millis))))
            fields.append(("committedEntryAgeSeconds", .int(max(0, nowMillis - millis) / 1000)))
        }
        return .object(fields)
    }

    static func rfc3339(millis: Int64) -> String {
        var out: [UInt8] = []
        Timestamp.appendRFC3339(seconds: millis / 1000, nanos: Int32((millis % 1000) * 1_000_000), fractionDigits: 3, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A key allowed in twin properties.
    static func key(_ text: String) -> String {
        String(text.map { c -> Character in c == "." || c == "$" || c == "#" || c == " " ? "_" : c })
    }
}
