import EdgeLogCore

/// Docker's journald driver splits a line over 16 KiB into several journal entries; this rejoins them.
///
/// A piece is known by `CONTAINER_PARTIAL_ID` (dockerd 20.10 and later: every piece carries the message's id, an
/// ordinal and `CONTAINER_PARTIAL_LAST`), or, from older engines, only by `CONTAINER_PARTIAL_MESSAGE=true` on every
/// piece but the last: such pieces are keyed by container and stream, and the next entry of that container and
/// stream without the flag ends the message. Pieces arrive in journal order, which is dockerd's order.
///
/// Bounded like the Docker source's partials: one message keeps at most `maxMessageBytes` (the head; the rest is
/// dropped and the message marked cut), all open messages together at most `maxPendingBytes`, and at most
/// `maxOpen` messages are open at once; past either limit the oldest open message is handed back at once (cut),
/// and pieces of it that come later start a new message. A pure state machine: no I/O, no clock of its own.
struct ContainerPartials {
    /// A message being rejoined (or complete and handed back).
    struct Message {
        /// `CONTAINER_PARTIAL_ID`, or `<container id>:<stream>` for older engines.
        var key: String
        var containerId: String
        var stderr: Bool
        /// The journal time of the first piece (µs since the epoch): the record's `TimeGenerated`.
        var realtime: UInt64
        /// The cursor of the entry read just before the first piece ("" at the head of the journal): reading again
        /// from there reads every piece.
        var before: String
        var bytes: [UInt8] = []
        /// Bytes dropped past `maxMessageBytes`.
        var cut = false
        /// Handed back before its last piece (`maxPendingBytes`, `maxOpen`, or idle / end of a run).
        var incomplete = false
        /// When its last piece was read (the caller's clock), for `idle`.
        var lastSeen: UInt64
    }

    /// How an entry takes part in a split message.
    enum Piece: Equatable {
        /// A whole line (not split).
        case whole
        /// A piece that is continued by another (`CONTAINER_PARTIAL_LAST=false`, or the older flag).
        case more(key: String)
        /// The last piece of the message `key`.
        case last(key: String)
    }

    let maxMessageBytes: Int
    let maxPendingBytes: Int
    let maxOpen: Int
    /// Open messages, oldest first piece first.
    private(set) var open: [Message] = []
    private(set) var pendingBytes = 0

    init(maxMessageBytes: Int, maxPendingBytes: Int, maxOpen: Int = 32) {
        self.maxMessageBytes = max(1, maxMessageBytes)
        self.maxPendingBytes = max(self.maxMessageBytes, maxPendingBytes)
        self.maxOpen = max(1, maxOpen)
    }

    var isEmpty: Bool { open.isEmpty }

    /// The piece an entry is, from its partial fields (nil when absent). `legacyKey` is `<container id>:<stream>`.
    func classify(partialId: String?, last: String?, partialMessage: String?, legacyKey: String) -> Piece {
        if let partialId, Self.isPartialId(partialId) {
            // dockerd sets LAST on every piece; without it, the older flag decides.
            let isLast = last.map { $0 == "true" } ?? (partialMessage != "true")
            return isLast ? .last(key: partialId) : .more(key: partialId)
        }
        if partialMessage == "true" { return .more(key: legacyKey) }
        // Older engines: the entry after flagged pieces ends their message.
        if open.contains(where: { $0.key == legacyKey }) { return .last(key: legacyKey) }
        return .whole
    }

    /// dockerd's partial ids are 64 hex digits; anything else (another writer's field) does not join entries, and
    /// could not be saved in a held position (`HeldCursor` separates keys with `,` and `|`).
    static func isPartialId(_ id: String) -> Bool {
        let u = id.utf8
        return !u.isEmpty && u.count <= 64 && u.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) }
    }

    /// Takes a piece. Returns the messages to ship now, oldest first: any open message pushed out by the limits,
    /// then this piece's message if it is complete (a `.whole` piece is returned as a message of its own).
    mutating func add(
        _ piece: Piece, containerId: String, stderr: Bool, bytes: UnsafeBufferPointer<UInt8>, realtime: UInt64,
        before: String, now: UInt64
    ) -> [Message] {
        var out: [Message] = []
        let key: String
        let isLast: Bool
        switch piece {
        case .whole:
            var m = Message(key: "", containerId: containerId, stderr: stderr, realtime: realtime, before: before, lastSeen: now)
            append(bytes, to: &m)
            return [m]
        case .more(let k): (key, isLast) = (k, false)
        case .last(let k): (key, isLast) = (k, true)
        }
        var index = open.firstIndex { $0.key == key }
        if index == nil {
            if open.count >= maxOpen { out.append(evictOldest()) }
            open.append(Message(key: key, containerId: containerId, stderr: stderr, realtime: realtime, before: before, lastSeen: now))
            index = open.count - 1
        }
        guard let i = index else { return out }
        let had = open[i].bytes.count
        append(bytes, to: &open[i])
        open[i].lastSeen = now
        pendingBytes += open[i].bytes.count - had
        if isLast {
            let done = open.remove(at: i)
            pendingBytes -= done.bytes.count
            out.append(done)
            return out
        }
        while pendingBytes > maxPendingBytes, !open.isEmpty { out.append(evictOldest()) }
        return out
    }

    /// Hands back open messages whose last piece was read at or before `olderThan` (all of them with `.max`),
    /// oldest first, marked incomplete.
    mutating func idle(olderThan: UInt64) -> [Message] {
        var out: [Message] = []
        open.removeAll { m in
            guard m.lastSeen <= olderThan else { return false }
            var m = m
            m.incomplete = true
            pendingBytes -= m.bytes.count
            out.append(m)
            return true
        }
        return out
    }

    /// The keys of the open messages.
    var openKeys: [String] { open.map(\.key) }

    /// The cursor to read again from to see every open message's first piece, or nil if none is open.
    var holdCursor: String? { open.first?.before }

    private mutating func evictOldest() -> Message {
        var m = open.removeFirst()
        m.incomplete = true
        pendingBytes -= m.bytes.count
        return m
    }

    private func append(_ bytes: UnsafeBufferPointer<UInt8>, to m: inout Message) {
        let room = maxMessageBytes - m.bytes.count
        if bytes.count <= room {
            m.bytes.append(contentsOf: bytes)
            return
        }
        m.cut = true
        guard room > 0 else { return }
        m.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[0..<JSONWriter.utf8SafePrefixLength(bytes, limit: room)]))
    }
}
