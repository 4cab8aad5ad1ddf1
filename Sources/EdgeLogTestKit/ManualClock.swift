import Synchronization

/// A clock that moves only when a test says so: for code that sleeps (retries, backoff, grace periods), tested
/// without waiting for real time. Sleepers wake, in deadline order, when `advance` passes their deadline;
/// a cancelled sleeper throws `CancellationError` at once, like `Task.sleep`.
///
///     let clock = ManualClock()
///     ... start the code under test with `clock` ...
///     try await clock.waitForSleepers(1)          // it is sleeping now
///     clock.advance(by: .seconds(30))             // and wakes
public final class ManualClock: Clock, Sendable {
    public typealias Duration = Swift.Duration

    public struct Instant: InstantProtocol, CustomStringConvertible {
        /// Time since the clock was made.
        public let offset: Swift.Duration

        public init(offset: Swift.Duration) { self.offset = offset }
        public func advanced(by duration: Swift.Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Swift.Duration { other.offset - offset }
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
        public var description: String { "ManualClock.Instant(\(offset))" }
    }

    private struct Sleeper {
        let id: UInt64
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var nextID: UInt64 = 0
        /// Sleepers cancelled before they were registered.
        var cancelled: Set<UInt64> = []
        /// Every deadline a sleeper asked for, in order (for tests that check the delays chosen).
        var requested: [Swift.Duration] = []
    }

    private let state = Mutex(State())

    public init() {}

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Swift.Duration { .zero }

    /// Tasks sleeping now.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }
    /// The earliest deadline of a sleeping task.
    public var nextDeadline: Instant? { state.withLock { $0.sleepers.map(\.deadline).min() } }
    /// How long each sleep asked for, measured from when it started, in the order they started.
    public var requestedSleeps: [Swift.Duration] { state.withLock { $0.requested } }

    public func sleep(until deadline: Instant, tolerance: Swift.Duration? = nil) async throws {
        try Task.checkCancellation()
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Result<Void, any Error>? in
                    s.requested.append(s.now.duration(to: deadline))
                    if s.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= s.now { return .success(()) }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLock { s -> Sleeper? in
                if let i = s.sleepers.firstIndex(where: { $0.id == id }) { return s.sleepers.remove(at: i) }
                s.cancelled.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward; every sleeper whose deadline is passed wakes.
    public func advance(by duration: Swift.Duration) {
        let woken = state.withLock { s -> [Sleeper] in
            s.now = s.now.advanced(by: duration)
            let now = s.now
            let due = s.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            s.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    /// Moves time to the earliest sleeper's deadline (nothing if none sleeps). Returns how far it moved.
    @discardableResult
    public func advanceToNextDeadline() -> Swift.Duration? {
        guard let next = nextDeadline else { return nil }
        let step = now.duration(to: next)
        advance(by: max(.zero, step))
        return step
    }

    /// Waits (for real, briefly) until at least `count` tasks sleep on this clock.
    public func waitForSleepers(_ count: Int = 1, _ what: String = "a task sleeping on the manual clock") async throws {
        try await eventually(what) { self.sleepers >= count }
    }
}
