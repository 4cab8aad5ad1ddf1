import EdgeLogCore
import Logging

/// Turns journal entries written by Docker's `journald` driver into container records, as the Docker source does
/// for json-file lines: `Source` `docker`, `ModuleId` the container's name (`CONTAINER_NAME` without its `/`),
/// `ContainerId` (`CONTAINER_ID_FULL`, short or full as `records.containerId` says), `ContainerImage` (`IMAGE_NAME`,
/// else the container's `config.v2.json`), `Stream` `stderr` for `PRIORITY` 3 and `stdout` otherwise, `Level` from a
/// leading `<0>`…`<7>` else 3/6 by stream, `Extra.labels` from the container's labels, `TimeGenerated` the journal
/// time of the message's first piece. Split messages are rejoined (`ContainerPartials`).
///
/// Positions: while a split message is open, every record and skipped entry is placed at a `HeldCursor`, so the
/// committed position never passes the first piece of an open message; a restart reads from there again, takes only
/// the pieces of the messages that were open, and skips what was shipped already.
///
/// Held by the journal reader's thread only.
struct ContainerEntryEncoder {
    struct Tally {
        var records = 0, truncated = 0, replaced = 0, partialsFlushed = 0, partialsCut = 0
    }

    private struct Container {
        var name: String
        var image: String
        var selected: Bool
        var template: RecordTemplate
        var route: FilterRoute
    }

    let settings: JournalContainers
    private let host: HostIdentity
    private let shape: RecordShape
    let filter: RecordFilter
    private let filterPassThrough: Bool
    private let maxRecordBytes: Int
    private let logger: Logger
    private(set) var partials: ContainerPartials
    private var containers: [String: Container] = [:]
    /// Set while entries up to a saved `HeldCursor`'s `through` are read again.
    private(set) var replay: HeldCursor?
    var tally = Tally()
    private var time: [UInt8] = []

    init(settings: JournalContainers, host: HostIdentity, shape: RecordShape, filter: RecordFilter, maxRecordBytes: Int, logger: Logger) {
        self.settings = settings
        self.host = host
        self.shape = shape
        self.filter = filter
        filterPassThrough = filter.isPassThrough
        self.maxRecordBytes = maxRecordBytes
        self.logger = logger
        partials = ContainerPartials(
            maxMessageBytes: min(settings.maxMessageBytes, maxRecordBytes), maxPendingBytes: settings.maxPendingBytes)
    }

    /// Starts reading a saved held position again.
    mutating func startReplay(_ held: HeldCursor) { replay = held }

    /// True while entries already handled before a restart are read again.
    var isReplaying: Bool { replay != nil }

    /// Ends the replay after the entry `cursor` (the saved `through`), or when the journal is read to its end.
    mutating func endReplay(after cursor: String?) {
        guard let replay else { return }
        if cursor == nil || cursor == replay.through { self.replay = nil }
    }

    /// The position to commit once everything up to the entry `cursor` is shipped.
    func position(_ cursor: String) -> SourcePosition {
        if let replay { return .cursor(replay.text) }
        guard let hold = partials.holdCursor else { return .cursor(cursor) }
        return .cursor(HeldCursor(hold: hold, through: cursor, open: partials.openKeys).text)
    }

    /// One container entry (its fields as read), at `cursor`; `before` is the cursor of the entry read before it.
    /// Appends the records it completes to `chunk`; the chunk's final position moves to this entry either way.
    mutating func take(
        id: String, name: String, image: String, priority: Int?, message: UnsafeBufferPointer<UInt8>, partialId: String?,
        last: String?, partialMessage: String?, realtime: UInt64, cursor: String, before: String, now: UInt64,
        into chunk: inout RecordChunk
    ) {
        defer { chunk.finalPosition = position(cursor) }
        guard let container = resolve(id: id, name: name, image: image), container.selected else { return }
        let stderr = priority == 3
        let piece = partials.classify(
            partialId: partialId, last: last, partialMessage: partialMessage, legacyKey: id + (stderr ? ":stderr" : ":stdout"))
        if let replay {
            // Shipped before the restart unless it belongs to a message that was open then.
            switch piece {
            case .whole: return
            case .more(let key), .last(let key): if !replay.open.contains(key) { return }
            }
        }
        let done = partials.add(piece, containerId: id, stderr: stderr, bytes: message, realtime: realtime, before: before, now: now)
        for m in done {
            if m.incomplete { tally.partialsCut += 1 }
            encode(m, at: position(cursor), into: &chunk)
        }
    }

    /// Ships open messages not continued since `olderThan` (all of them with `.max`), at `cursor`.
    mutating func flushIdle(olderThan: UInt64, cursor: String?, into chunk: inout RecordChunk) {
        guard !partials.isEmpty, replay == nil, let cursor else { return }
        let done = partials.idle(olderThan: olderThan)
        guard !done.isEmpty else { return }
        for m in done {
            tally.partialsFlushed += 1
            encode(m, at: position(cursor), into: &chunk)
        }
        chunk.finalPosition = position(cursor)
    }

    private mutating func encode(_ m: ContainerPartials.Message, at position: SourcePosition, into chunk: inout RecordChunk) {
        guard let container = containers[m.containerId] else { return }
        let level = Self.level(m.bytes, stderr: m.stderr)
        var redacted = false
        if !filterPassThrough {
            let verdict = m.bytes.withUnsafeBufferPointer { filter.evaluate(container.route, level: level, message: $0) }
            switch verdict {
            case .keep: break
            case .keepRedacted: redacted = true
            case .drop:
                tally.records += 1
                return
            }
        }
        time.removeAll(keepingCapacity: true)
        Timestamp.appendRFC3339(microseconds: m.realtime, to: &time)
        let (time, maxRecordBytes) = (self.time, self.maxRecordBytes)
        let body = redacted ? filter.redacted : m.bytes
        let stream: StaticString = m.stderr ? "stderr" : "stdout"
        let outcome = body.withUnsafeBufferPointer { b in
            time.withUnsafeBufferPointer { t in
                container.template.encode(time: t, stream: stream, level: level, message: b, maxBytes: maxRecordBytes, to: &chunk.data)
            }
        }
        chunk.closeRecord(at: position)
        tally.records += 1
        tally.replaced += outcome.replacements
        if m.cut || outcome.truncated { tally.truncated += 1 }
    }

    /// `<0>`…`<7>` at the start (the IoT Edge module convention) is the level; otherwise stdout is 6, stderr 3.
    static func level(_ message: [UInt8], stderr: Bool) -> Int {
        if message.count >= 3, message[0] == UInt8(ascii: "<"), message[2] == UInt8(ascii: ">"), message[1] >= 0x30, message[1] <= 0x37 {
            return Int(message[1] - 0x30)
        }
        return stderr ? 3 : 6
    }

    /// The container's record template and whether it is collected, cached by id (re-done when its name changes).
    private mutating func resolve(id: String, name entryName: String, image entryImage: String) -> Container? {
        if let found = containers[id], entryName.isEmpty || found.name == entryName { return found }
        let info = settings.lookup(id)
        var name = entryName.hasPrefix("/") ? String(entryName.dropFirst()) : entryName
        if name.isEmpty { name = info?.name ?? "" }
        if name.isEmpty { name = String(id.prefix(12)) }
        let image = entryImage.isEmpty ? info?.image ?? "" : entryImage
        let labels = (info?.labels ?? []).filter { Glob.selects($0.0, patterns: settings.labels) }
        let extra: JSONValue = labels.isEmpty ? .object([]) : .object([("labels", .object(labels.map { ($0.0, .string($0.1)) }))])
        let selected =
            id != settings.selfId && !settings.selfNames.contains(name)
            && Glob.selects(name, include: settings.include, exclude: settings.exclude)
        let container = Container(
            name: name, image: image, selected: selected,
            template: RecordTemplate(
                host: host, source: "docker", moduleId: name, containerId: id, containerImage: image, extra: extra, shape: shape),
            route: filter.route(kind: .container, module: name))
        if containers.count >= 1024 && partials.isEmpty { containers.removeAll(keepingCapacity: true) }
        containers[id] = container
        if selected {
            logger.info("collecting container \(name) (\(id.prefix(12))) from the journal (Docker's journald driver)")
        } else {
            logger.debug("not collecting container \(name) (\(id.prefix(12))) from the journal")
        }
        return container
    }
}
