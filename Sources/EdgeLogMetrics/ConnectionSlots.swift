/// The metrics server's connection slots as a pure state machine: which connections are open, what each is
/// doing and since when, and who gives up its slot when a new connection arrives at a full server.
///
/// A new connection is always admitted when a slot can be freed for it: the connection that has been longest in
/// its current phase (waiting for a request, or waiting for the client to take an answer) is closed, so a
/// connection that makes no progress cannot keep a slot from one that does. Connections from loopback (the
/// image's HEALTHCHECK, `edgelog healthcheck`) are never closed to make room for a connection from elsewhere,
/// and a loopback connection may close any other: a health check from inside the container always gets a slot.
struct ConnectionSlots: Sendable {
    enum Phase: Sendable, Equatable {
        /// Reading a request, or idle between requests.
        case waiting
        /// An answer is written and the client has not taken all of it yet.
        case answering
    }

    struct Entry: Sendable, Equatable {
        var loopback: Bool
        var phase: Phase
        /// When the current phase began (monotonic nanoseconds).
        var since: UInt64
    }

    enum Admission: Sendable, Equatable {
        case admit
        /// Admit, after closing this connection.
        case admitEvicting(Int)
        /// No slot can be freed for it (every open connection is from loopback, the newcomer is not).
        case refuse
    }

    let limit: Int
    private(set) var entries: [Int: Entry] = [:]

    init(limit: Int) { self.limit = max(1, limit) }

    var count: Int { entries.count }

    /// A new connection `id`. An evicted connection leaves the table at once (its close follows).
    mutating func admit(_ id: Int, loopback: Bool, now: UInt64) -> Admission {
        var admission = Admission.admit
        if entries.count >= limit {
            let candidates = entries.filter { loopback || !$0.value.loopback }
            guard let victim = candidates.min(by: { ($0.value.since, $0.key) < ($1.value.since, $1.key) }) else {
                return .refuse
            }
            entries[victim.key] = nil
            admission = .admitEvicting(victim.key)
        }
        entries[id] = Entry(loopback: loopback, phase: .waiting, since: now)
        return admission
    }

    /// `id` entered `phase` now.
    mutating func enter(_ id: Int, _ phase: Phase, now: UInt64) {
        entries[id]?.phase = phase
        entries[id]?.since = now
    }

    mutating func remove(_ id: Int) { entries[id] = nil }
}
