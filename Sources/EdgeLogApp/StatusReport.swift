import EdgeLogCore
import EdgeLogDocker
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `edgelog status`: what the state directory says, without running anything.
public enum StatusReport {
    public static func make(configuration: Configuration) throws -> JSONValue {
        let state = configuration.stateDirectory
        // Only reads: a damaged checkpoint file is reported (the next run sets it aside and rebuilds).
        let checkpoints = try CheckpointStore(directory: state, onDamage: .report)
        var rebuildsFromSpool = false
        // Positions committed by spooled batches the checkpoint file has not caught up with yet.
        if (try? FileSystem.status(state + "/spool")) != nil {
            let spool = try Spool(
                directory: state + "/spool", settings: configuration.spool, counters: Counters(),
                logger: Logger(label: "status"), cleanUp: false)
            if checkpoints.damage != nil || (!checkpoints.existed && !spool.snapshot.isEmpty) {
                let rebuilt = spool.rebuild()
                checkpoints.apply(rebuilt.positions, sequence: rebuilt.lastSequence)
                rebuildsFromSpool = true
            } else {
                let recovered = spool.recover(after: checkpoints.lastSequence, discard: false)
                checkpoints.apply(recovered.positions, sequence: recovered.lastSequence)
            }
        }
        var file: [(String, JSONValue)]
        if let damage = checkpoints.damage {
            file = [
                ("state", .string("damaged")), ("reason", .string(damage.reason)),
                ("note", .string("the next run moves it aside and rebuilds the positions from the spool")),
            ]
        } else if !checkpoints.existed {
            file = [("state", .string("missing"))]
            if rebuildsFromSpool { file.append(("note", .string("the next run rebuilds the positions from the spool"))) }
        } else {
            file = [("state", .string("ok"))]
        }
        let nowMillis = FileSystem.nowMillis()
        var sources: [(String, JSONValue)] = []
        for (key, position) in checkpoints.positions.sorted(by: { $0.key < $1.key }) {
            var fields: [(String, JSONValue)] = []
            switch position {
            case .file(let f):
                fields = [("path", .string(f.path)), ("offset", .int(f.offset))]
                // The file of the position, if it is still the same file.
                let size = (try? FileSystem.status(f.path)).flatMap { UInt64($0.st_ino) == f.inode ? Int64($0.st_size) : nil }
                if let size { fields.append(("size", .int(size))) }
                if let backlog = dockerBacklog(key: key, position: f) {
                    // Over the rotation chain: a rotated file not read yet is behind too.
                    fields.append(("behindBytes", .int(backlog.bytes)))
                    fields.append(("unreadRotatedFiles", .int(Int64(backlog.unreadRotatedFiles))))
                    if backlog.positionFileGone { fields.append(("positionFileGone", .bool(true))) }
                } else if let size {
                    fields.append(("behindBytes", .int(max(0, size - f.offset))))
                }
            case .cursor(let c):
                fields = [("cursor", .string(c))]
            }
            sources.append((key, .object(fields)))
        }
        // Containers whose logging driver writes no file EdgeLog reads (journald: the journal source reads their
        // lines as container records unless `docker.journal` is false; others: not collected).
        var unread: [JSONValue] = []
        if configuration.docker.enabled {
            for c in UnreadContainer.list(containersDirectory: configuration.docker.containersDirectory) {
                unread.append(
                    .object([
                        ("container", .string(c.name)), ("id", .string(String(c.id.prefix(12)))),
                        ("driver", .string(c.driver.description)),
                        ("collected", .string(c.collected(configuration.docker))),
                    ]))
            }
        }
        let spooled = try listBatches(state + "/spool")
        let dead = try listBatches(state + "/deadletter")
        let counters = checkpoints.restoredCounters
        func counter(_ name: Counters.Name) -> JSONValue { .int(counters[name.rawValue] ?? 0) }
        var lastReset: JSONValue = .null
        if let reset = checkpoints.lastReset {
            lastReset = .object([
                ("time", .string(TwinHealth.rfc3339(millis: reset.atMillis))), ("reason", .string(reset.reason)),
                ("setAside", .string(reset.setAside)), ("rebuiltPositions", .int(Int64(reset.rebuiltPositions))),
                ("batchesCarryingPositions", .int(Int64(reset.batchesCarryingPositions))),
            ])
        }
        return .object([
            ("stateDirectory", .string(state)),
            ("checkpointFile", .object(file)),
            ("lastReset", lastReset),
            ("lastSequence", .int(Int64(clamping: checkpoints.lastSequence))),
            ("checkpoints", .object(sources)),
            ("dockerContainersNotReadFromFiles", .array(unread)),
            (
                "spool",
                .object([
                    ("batches", .int(Int64(spooled.count))),
                    ("records", .int(Int64(spooled.reduce(0) { $0 + $1.records }))),
                    ("bytes", .int(spooled.reduce(0) { $0 + $1.bytes })),
                    ("oldestAgeSeconds", spooled.first.map { .int((nowMillis - $0.createdMillis) / 1000) } ?? .null),
                ])
            ),
            ("deadLetter", .object([("batches", .int(Int64(dead.count))), ("bytes", .int(dead.reduce(0) { $0 + $1.bytes }))])),
            ("checkpointResets", counter(.checkpointResets)),
            (
                "dropped",
                .object([
                    ("ttlBatches", counter(.spoolDroppedTTLBatches)), ("ttlRecords", counter(.spoolDroppedTTLRecords)),
                    ("ttlBytes", counter(.spoolDroppedTTLBytes)), ("sizeBatches", counter(.spoolDroppedSizeBatches)),
                    ("sizeRecords", counter(.spoolDroppedSizeRecords)), ("sizeBytes", counter(.spoolDroppedSizeBytes)),
                    ("linesMalformed", counter(.linesMalformed)), ("messagesTruncated", counter(.messagesTruncated)),
                    ("deadLetteredRecords", counter(.recordsDeadLettered)),
                    ("damagedBatches", counter(.spoolDamagedBatches)), ("damagedRecords", counter(.spoolDamagedRecords)),
                    ("dockerRotationGaps", counter(.dockerRotationGaps)), ("dockerBytesLost", counter(.dockerBytesLost)),
                ])
            ),
            (
                "filtered",
                .object([
                    ("level", counter(.recordsFilteredLevel)), ("drop", counter(.recordsFilteredDrop)),
                    ("keep", counter(.recordsFilteredKeep)), ("rateLimit", counter(.recordsRateLimited)),
                    ("redactedMessages", counter(.messagesRedacted)),
                ])
            ),
            ("counters", .object(counters.sorted(by: { $0.key < $1.key }).map { ($0.key, .int($0.value)) })),
        ])
    }

    /// The backlog of a Docker position over its container's rotation chain (the chain's folder is the one the
    /// position's file is in).
    static func dockerBacklog(key: String, position: FilePosition) -> ChainBacklog? {
        guard key.hasPrefix("docker/") else { return nil }
        let id = String(key.dropFirst("docker/".count))
        var folder = FileSystem.directory(of: position.path)
        // The `local` driver's files are one folder deeper: `<id>/local-logs/container.log`.
        if folder.hasSuffix("/local-logs") { folder = FileSystem.directory(of: folder) }
        let containers = FileSystem.directory(of: folder)
        return ChainBacklog.of(containersDirectory: containers, id: id, position: .file(position))
    }

    private static func listBatches(_ dir: String) throws -> [SpoolEntry] {
        var result: [SpoolEntry] = []
        for name in try FileSystem.list(dir) ?? [] {
            guard let st = try FileSystem.status(dir + "/" + name), st.st_mode & S_IFMT == S_IFREG,
                let entry = SpoolEntry(fileName: name, bytes: Int64(st.st_size))
            else { continue }
            result.append(entry)
        }
        return result.sorted { $0.sequence < $1.sequence }
    }
}
