import Logging
import Synchronization

/// Delivers spooled batches in order and deletes each only after the sink confirmed it. The rules (the sending
/// window, in-order settlement, retries and backoff, dead letters, when to stop) are `DeliveryStateMachine`'s;
/// this type carries out its actions: reading the spool, the calls, the checkpoint file through the committer,
/// the dead-letter folder, the clock, and the counters and log lines of each event.
///
/// Each call runs in its own task so that stopping the driver (SIGTERM) does not cut a call the upstream may
/// already have stored: it gets `shutdownPatience` to finish and be acknowledged, instead of being sent again by
/// the grace period (Swift has no cancellation shield; this is the one unstructured task in the libraries).
public final class SinkDriver: Sendable {
    let spool: Spool
    let sink: any Sink
    let deadLetters: DeadLetterStore
    let counters: Counters
    let committer: CheckpointCommitter
    let logger: Logger
    let initialBackoff: Backoff
    let clock: DriverClock
    /// Batch files at or below this sequence were written before this process started (see `Spool.adoptRequeued`).
    let committedAtStart: UInt64

    private struct State {
        var lastDeliveryMillis: Int64?
        var lastError: String?
        var failingSinceMillis: Int64?
        var deadLettersWhileFailing = 0
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - backoff: the delays between retries when the sink gives no `Retry-After` (1 s doubling to 5 min with
    ///     jitter unless told otherwise).
    ///   - clock: the driver's time: retries, the deadline of a drain, the shutdown patience, the adoption tick.
    ///     Tests give a manual clock.
    public init<C: Clock>(
        spool: Spool, sink: any Sink, deadLetters: DeadLetterStore, committer: CheckpointCommitter, counters: Counters,
        logger: Logger, backoff: Backoff = Backoff(), clock: C
    ) where C.Duration == Duration {
        self.committer = committer
        self.spool = spool
        self.sink = sink
        self.deadLetters = deadLetters
        self.counters = counters
        self.logger = logger
        self.initialBackoff = backoff
        self.clock = DriverClock(clock)
        self.committedAtStart = committer.store.lastSequence
    }

    public convenience init(
        spool: Spool, sink: any Sink, deadLetters: DeadLetterStore, committer: CheckpointCommitter, counters: Counters,
        logger: Logger, backoff: Backoff = Backoff()
    ) {
        self.init(
            spool: spool, sink: sink, deadLetters: deadLetters, committer: committer, counters: counters, logger: logger,
            backoff: backoff, clock: ContinuousClock())
    }

    public var lastDeliveryMillis: Int64? { state.withLock { $0.lastDeliveryMillis } }
    public var lastError: String? { state.withLock { $0.lastError } }

    /// Whether the sink is getting batches through, for health checks.
    public struct Progress: Sendable, Equatable {
        /// When the last batch was delivered, if one was.
        public var lastDeliveryMillis: Int64?
        /// When the first of the failed attempts since the last delivery was, or nil if the last attempt succeeded.
        public var failingSinceMillis: Int64?
        /// Batches sent to the dead-letter folder since `failingSinceMillis`.
        public var deadLettersWhileFailing: Int
        /// Why the last attempt failed.
        public var lastError: String?

        public init(
            lastDeliveryMillis: Int64? = nil, failingSinceMillis: Int64? = nil, deadLettersWhileFailing: Int = 0,
            lastError: String? = nil
        ) {
            self.lastDeliveryMillis = lastDeliveryMillis
            self.failingSinceMillis = failingSinceMillis
            self.deadLettersWhileFailing = deadLettersWhileFailing
            self.lastError = lastError
        }
    }

    public var progress: Progress {
        state.withLock {
            Progress(
                lastDeliveryMillis: $0.lastDeliveryMillis, failingSinceMillis: $0.failingSinceMillis,
                deadLettersWhileFailing: $0.deadLettersWhileFailing, lastError: $0.lastError)
        }
    }

    /// Notes a failed attempt (retryable, permanent or unreadable) for `progress`.
    private func failed(_ reason: String) {
        let now = FileSystem.nowMillis()
        state.withLock {
            $0.lastError = reason
            if $0.failingSinceMillis == nil { $0.failingSinceMillis = now }
        }
    }

    /// How long calls in flight may go on when the driver is stopped (the shutdown grace period comes after).
    static let shutdownPatience: Duration = .seconds(3)

    /// How often an idle driver looks for requeued dead letters.
    static let adoptionInterval: Duration = .seconds(2)

    /// How long to go on.
    public enum Until: Sendable {
        /// Until cancelled, waiting for new batches when the spool is empty.
        case cancelled
        /// Until the spool is empty, giving up on a batch after `attempts` retryable failures, or once `within`
        /// has passed (on the driver's clock).
        case empty(attempts: Int, within: Duration?)
    }

    /// A result from the task group: a call's, or a timer's (sequence 0: the deadline, or the adoption tick
    /// ending when the driver is cancelled). Sequences start at 1.
    private typealias Event = (sequence: UInt64, result: DeliveryResult)

    /// Delivers until told to stop. Returns true if the spool is empty at the end.
    @discardableResult
    public func run(until: Until) async -> Bool {
        let limit: DeliveryStateMachine.Limit
        switch until {
        case .cancelled: limit = .follow
        case .empty(let attempts, let within): limit = .drain(maxAttempts: attempts, deadline: within.map { clock.now() + $0 })
        }
        var machine = DeliveryStateMachine(
            limit: limit, concurrency: sink.maxConcurrentDeliveries, idempotent: sink.idempotent, backoff: initialBackoff)
        return await withTaskGroup(of: Event.self) { group in
            var admissions = spool.admissions.makeAsyncIterator()
            switch limit {
            case .follow:
                // An idle driver looks for batches `edgelog deadletter retry` put back this often.
                group.addTask { [spool, clock] in
                    while (try? await clock.sleep(for: Self.adoptionInterval)) != nil { spool.nudge() }
                    return (0, .delivered)
                }
            case .drain(_, let deadline?):
                // Wakes the loop at the deadline even while calls are in flight, so they are cancelled in time.
                group.addTask { [clock] in
                    try? await clock.sleepUntil(deadline)
                    return (0, .delivered)
                }
            case .drain:
                break
            }
            // Calls in flight, by sequence.
            var calls: [UInt64: Task<DeliveryResult, Never>] = [:]

            loop: while true {
                if Task.isCancelled { machine.cancel() }
                let action = machine.nextAction(now: clock.now())
                switch action {
                case .read(let after):
                    await spool.expire(nowMillis: FileSystem.nowMillis())
                    machine.read(await read(after: after), now: clock.now())
                case .send(let batch):
                    let call = Task { [sink] in await sink.deliver(batch) }
                    calls[batch.sequence] = call
                    group.addTask { (batch.sequence, await call.value) }
                case .acknowledge(let entry, let recovered):
                    acknowledge(entry)
                    if recovered { logger.info("sink \(sink.name) is delivering again") }
                case .deadLetter(let entry, let payload, let reason, let detail):
                    failed(reason)
                    machine.deadLettered(
                        deadLetter(entry, payload: payload, reason: reason, detail: detail), now: clock.now())
                case .retry(let retry):
                    noteRetry(retry)
                case .settle(let entries):
                    machine.settled(await settle(entries))
                case .sleep(let wake):
                    do {
                        try await clock.sleepUntil(wake)
                    } catch {
                        machine.cancel()
                        continue loop
                    }
                    await spool.expire(nowMillis: FileSystem.nowMillis())
                    let head = machine.flights.first?.entry.sequence
                    machine.woke(now: clock.now(), headSpooled: head.map(spool.holds) ?? false)
                case .waitForResult:
                    guard let event = await group.next() else { break loop }
                    if event.sequence != 0 {
                        calls[event.sequence] = nil
                        machine.result(sequence: event.sequence, event.result)
                    }
                case .adopt:
                    let bound = max(committedAtStart, spool.admittedThrough)
                    machine.adopted(!spool.adoptRequeued(through: bound).isEmpty)
                case .waitForBatches:
                    guard await admissions.next() != nil else {
                        machine.cancel()
                        continue loop
                    }
                    machine.batchesArrived()
                case .stop:
                    break loop
                }
            }

            // Stop. At a deadline (or after too many attempts) calls in flight are cancelled at once; when the driver
            // itself is stopped they get `shutdownPatience` first. Batches confirmed meanwhile are removed even out
            // of order (their positions are committed; only their files go), so they are not sent again next time.
            group.cancelAll()
            let inFlight = Array(calls.values)
            let patience: Duration = machine.stopped == .cancelled ? Self.shutdownPatience : .zero
            let cutoff = Task { [clock] in
                if patience > .zero { try? await clock.sleep(for: patience) }
                for call in inFlight { call.cancel() }
            }
            defer { cutoff.cancel() }
            while let event = await group.next() {
                if event.sequence != 0 { machine.result(sequence: event.sequence, event.result) }
            }
            let (late, unsettled) = machine.deliveredAtStop()
            for entry in late { acknowledge(entry) }
            if !unsettled.isEmpty { _ = await settle(unsettled) }
            return spool.oldest == nil
        }
    }

    /// The oldest spooled batch after `sequence`, read and checked. A damaged one goes to the dead letters here.
    private func read(after sequence: UInt64?) async -> DeliveryStateMachine.ReadOutcome {
        while true {
            let entry: SpoolEntry?
            if let sequence {
                entry = spool.snapshot.first { $0.sequence > sequence }
            } else {
                entry = spool.oldest
            }
            guard let entry else { return .none }
            do {
                switch try spool.read(entry) {
                case .batch(let payload):
                    return .batch(entry, payload: payload)
                case .gone:
                    spool.remove(entry)  // dropped by the budget meanwhile
                case .damaged(let reason, let bytes):
                    if setAside(entry, bytes: bytes, reason: reason) { return .setAside(entry) }
                    return .failed
                }
            } catch {
                logger.error("cannot read spooled batch \(entry.sequence): \(error)")
                counters.add(.deliveryFailures)
                failed("cannot read spooled batch \(entry.sequence): \(error)")
                return .failed
            }
        }
    }

    /// Moves a damaged spool file to the dead letters with the reason (its file is deleted at the next settle).
    private func setAside(_ entry: SpoolEntry, bytes: [UInt8]?, reason: String) -> Bool {
        let why = "the spool file is damaged: \(reason)"
        do {
            if let bytes {
                try deadLetters.store(entry, payload: bytes, reason: why, detail: "")
            } else {
                try deadLetters.take(entry, from: spool.directory, reason: why)
            }
        } catch {
            logger.error("batch \(entry.sequence) is damaged (\(reason)) and cannot be moved to \(deadLetters.directory): \(error)")
            return false
        }
        spool.release(entry)
        counters.add(.spoolDamagedBatches)
        counters.add(.spoolDamagedRecords, entry.records)
        logger.error(
            "batch \(entry.sequence) (\(entry.records) records) is damaged in the spool and was not delivered: \(reason); kept in \(deadLetters.directory)"
        )
        return true
    }

    private func acknowledge(_ entry: SpoolEntry) {
        spool.release(entry)
        counters.add(.batchesDelivered)
        counters.add(.recordsDelivered, entry.records)
        counters.add(.bytesDelivered, Int(entry.bytes))
        state.withLock {
            $0.lastDeliveryMillis = FileSystem.nowMillis()
            $0.lastError = nil
            $0.failingSinceMillis = nil
            $0.deadLettersWhileFailing = 0
        }
    }

    private func noteRetry(_ retry: DeliveryStateMachine.Retry) {
        counters.add(.deliveryRetries)
        failed(retry.reason)
        if let after = retry.retryAfter {
            counters.add(.deliveryRetryAfterWaits)
            let (seconds, atto) = after.components
            counters.add(.deliveryRetryAfterMillis, Int(seconds * 1000 + atto / 1_000_000_000_000_000))
        }
        if retry.attempt == 1 || retry.attempt % 10 == 0 {
            logger.warning(
                "sink \(sink.name) failed batch \(retry.entry.sequence) (attempt \(retry.attempt)), retrying in \(retry.delay): \(retry.reason)"
            )
        }
    }

    /// Moves a refused batch to the dead-letter folder. False if that failed (the batch stays spooled).
    private func deadLetter(_ entry: SpoolEntry, payload: [UInt8], reason: String, detail: String) -> Bool {
        do {
            try deadLetters.store(entry, payload: payload, reason: reason, detail: detail)
        } catch {
            logger.error("cannot dead-letter batch \(entry.sequence): \(error)")
            return false
        }
        counters.add(.batchesDeadLettered)
        counters.add(.recordsDeadLettered, entry.records)
        state.withLock { $0.deadLettersWhileFailing += 1 }
        logger.error(
            "sink \(sink.name) failed batch \(entry.sequence) for good (\(entry.records) records): \(reason); kept in \(deadLetters.directory)"
        )
        spool.release(entry)
        return true
    }

    /// The committer writes the checkpoint file (covering every spooled batch so far), then the files go.
    /// False if the file could not be written: the files stay, their positions are still needed.
    private func settle(_ entries: [SpoolEntry]) async -> Bool {
        guard await committer.aboutToDelete() else { return false }
        for entry in entries { spool.deleteFile(entry) }
        return true
    }
}

/// The driver's time from an injected `Clock`, as durations since the driver was made, so the state machine
/// deals in plain `Duration`s.
struct DriverClock: Sendable {
    let now: @Sendable () -> Duration
    let sleepUntil: @Sendable (Duration) async throws -> Void

    init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        now = { origin.duration(to: clock.now) }
        sleepUntil = { wake in try await clock.sleep(until: origin.advanced(by: wake), tolerance: nil) }
    }

    func sleep(for duration: Duration) async throws { try await sleepUntil(now() + duration) }
}
