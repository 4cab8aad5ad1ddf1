import Logging
import Synchronization

/// Delivers spooled batches in order and deletes each only after the sink confirmed it.
/// Up to `sink.maxConcurrentDeliveries` calls are in flight; results are acted on strictly in sequence order,
/// so a batch is acknowledged (deleted) only after every batch before it. After a retryable failure only the
/// failed batch is sent (one call in flight) until it gets through. Retryable failures wait for the upstream's
/// `Retry-After` or for backoff; permanent ones go to the dead-letter folder so the pipeline keeps moving.
public final class SinkDriver: Sendable {
    let spool: Spool
    let sink: any Sink
    let deadLetters: DeadLetterStore
    let counters: Counters
    let checkpoints: CheckpointStore
    let logger: Logger
    let initialBackoff: Backoff
    /// Batch files at or below this sequence were written before this process started (see `Spool.adoptRequeued`).
    let committedAtStart: UInt64

    private struct State {
        var lastDeliveryMillis: Int64?
        var lastError: String?
        var failingSinceMillis: Int64?
        var deadLettersWhileFailing = 0
    }
    private let state = Mutex(State())

    /// - Parameter backoff: the delays between retries when the sink gives no `Retry-After` (1 s doubling to
    ///   5 min with jitter unless told otherwise; tests make it shorter).
    public init(
        spool: Spool, sink: any Sink, deadLetters: DeadLetterStore, checkpoints: CheckpointStore, counters: Counters,
        logger: Logger, backoff: Backoff = Backoff()
    ) {
        self.checkpoints = checkpoints
        self.spool = spool
        self.sink = sink
        self.deadLetters = deadLetters
        self.counters = counters
        self.logger = logger
        self.initialBackoff = backoff
        self.committedAtStart = checkpoints.lastSequence
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
        /// Until the spool is empty, giving up on a batch after `attempts` retryable failures or at `deadline`.
        case empty(attempts: Int, deadline: ContinuousClock.Instant?)
    }

    /// A batch handed to the sink, and its result once known.
    private struct Flight {
        let entry: SpoolEntry
        let payload: [UInt8]
        var result: DeliveryResult?
    }

    /// Delivers until told to stop. Returns true if the spool is empty at the end.
    @discardableResult
    public func run(until: Until) async -> Bool {
        let widest = max(1, sink.maxConcurrentDeliveries)
        return await withTaskGroup(of: (UInt64, DeliveryResult).self) { group in
            var backoff = initialBackoff
            var attempts = 0
            var width = widest
            var flights: [Flight] = []
            var admissions = spool.admissions.makeAsyncIterator()
            // Delivered batches whose files wait for the checkpoint file to cover them.
            var delivered: [SpoolEntry] = []

            switch until {
            case .cancelled:
                // An idle driver looks for batches `edgelog deadletter retry` put back this often.
                group.addTask { [spool] in
                    while (try? await Task.sleep(for: Self.adoptionInterval)) != nil { spool.nudge() }
                    return (0, .delivered)
                }
            case .empty(_, let deadline?):
                // Wakes the loop at the deadline even while calls are in flight, so they are cancelled in time.
                group.addTask {
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    return (0, .delivered)
                }
            case .empty:
                break
            }

            // Calls in flight, by sequence. Each runs in its own task so that stopping the driver (SIGTERM) does
            // not cut a call the upstream may already have stored: it gets `shutdownPatience` to finish and be
            // acknowledged, instead of being sent again by the grace period.
            var calls: [UInt64: Task<DeliveryResult, Never>] = [:]

            func dispatch(_ flight: Flight) {
                let batch = SinkBatch(
                    sequence: flight.entry.sequence, payload: flight.payload, records: flight.entry.records,
                    format: flight.entry.format)
                let call = Task { [sink] in await sink.deliver(batch) }
                calls[batch.sequence] = call
                group.addTask { (batch.sequence, await call.value) }
            }

            outer: while !Task.isCancelled {
                if case .empty(_, let deadline?) = until, ContinuousClock.now >= deadline { break }
                spool.expire(nowMillis: FileSystem.nowMillis())
                // Fill the window with the next batches in sequence order.
                while flights.count < width, let entry = next(after: flights.last?.entry.sequence) {
                    let payload: [UInt8]
                    do {
                        guard let bytes = try spool.read(entry) else {
                            spool.remove(entry)  // dropped by the budget meanwhile
                            continue
                        }
                        payload = bytes
                    } catch {
                        logger.error("cannot read spooled batch \(entry.sequence): \(error)")
                        counters.add(.deliveryFailures)
                        failed("cannot read spooled batch \(entry.sequence): \(error)")
                        guard flights.isEmpty else { break }  // wait for the calls in flight first
                        if !(await pause(backoff.next(), until: until)) { break outer }
                        continue outer
                    }
                    let flight = Flight(entry: entry, payload: payload)
                    flights.append(flight)
                    dispatch(flight)
                }
                if flights.isEmpty {
                    settle(&delivered)
                    if delivered.isEmpty,
                        !spool.adoptRequeued(through: max(committedAtStart, spool.admittedThrough)).isEmpty
                    {
                        continue
                    }
                    if case .empty = until {
                        group.cancelAll()
                        return true
                    }
                    guard await admissions.next() != nil else { break }
                    continue
                }
                guard let (sequence, result) = await group.next() else { break }
                calls[sequence] = nil
                if let i = flights.firstIndex(where: { $0.entry.sequence == sequence }) { flights[i].result = result }
                // Act on results in sequence order only.
                while let head = flights.first, let result = head.result {
                    let entry = head.entry
                    switch result {
                    case .delivered:
                        flights.removeFirst()
                        acknowledge(entry, &delivered)
                        if attempts > 0 { logger.info("sink \(sink.name) is delivering again") }
                        backoff.reset()
                        attempts = 0
                        width = widest
                    case .permanent(let reason, let detail):
                        failed(reason)
                        if deadLetter(entry, payload: head.payload, reason: reason, detail: detail, &delivered) {
                            flights.removeFirst()
                            attempts = 0
                            continue
                        }
                        fallthrough  // the dead-letter folder cannot take it: keep the batch and try again later
                    case .retryable:
                        var reason = "cannot dead-letter"
                        var retryAfter: Duration?
                        if case .retryable(let r, let after) = result { (reason, retryAfter) = (r, after) }
                        attempts += 1
                        counters.add(.deliveryRetries)
                        failed(reason)
                        if let retryAfter {
                            counters.add(.deliveryRetryAfterWaits)
                            let (seconds, atto) = retryAfter.components
                            counters.add(.deliveryRetryAfterMillis, Int(seconds * 1000 + atto / 1_000_000_000_000_000))
                        }
                        let delay = retryAfter ?? backoff.next()
                        if attempts == 1 || attempts % 10 == 0 {
                            logger.warning(
                                "sink \(sink.name) failed batch \(entry.sequence) (attempt \(attempts)), retrying in \(delay): \(reason)"
                            )
                        }
                        if case .empty(let maxAttempts, _) = until, attempts >= maxAttempts { break outer }
                        if !(await pause(delay, until: until)) { break outer }
                        flights[0].result = nil
                        width = 1
                        spool.expire(nowMillis: FileSystem.nowMillis())
                        if !spool.snapshot.contains(where: { $0.sequence == entry.sequence }) {
                            flights.removeFirst()  // dropped by the spool's budget or TTL while waiting
                            attempts = 0
                            continue
                        }
                        dispatch(flights[0])
                        continue outer
                    }
                }
            }
            // Stop. At a deadline calls in flight are cancelled at once; when the driver itself is stopped they get
            // `shutdownPatience` first. Batches confirmed meanwhile are removed even out of order (their positions
            // are committed; only their files go), so they are not sent again next time.
            group.cancelAll()
            let inFlight = Array(calls.values)
            let patience: Duration = Task.isCancelled ? Self.shutdownPatience : .zero
            let cutoff = Task {
                try? await Task.sleep(for: patience)
                for call in inFlight { call.cancel() }
            }
            defer { cutoff.cancel() }
            while let (sequence, result) = await group.next() {
                if let i = flights.firstIndex(where: { $0.entry.sequence == sequence }) { flights[i].result = result }
            }
            for flight in flights where flight.result == .delivered { acknowledge(flight.entry, &delivered) }
            settle(&delivered)
            return spool.oldest == nil
        }
    }

    /// The oldest spooled batch after `sequence` (the oldest of all if nil).
    private func next(after sequence: UInt64?) -> SpoolEntry? {
        guard let sequence else { return spool.oldest }
        return spool.snapshot.first { $0.sequence > sequence }
    }

    private func acknowledge(_ entry: SpoolEntry, _ delivered: inout [SpoolEntry]) {
        spool.release(entry)
        delivered.append(entry)
        // A crash before the checkpoint file covers a delivered batch sends it again: after every
        // delivery that is at most the batches in flight; a sink that replaces on re-delivery can wait longer.
        if !sink.idempotent || delivered.count >= 16 { settle(&delivered) }
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

    /// Moves a refused batch to the dead-letter folder. False if that failed (the batch stays spooled).
    private func deadLetter(
        _ entry: SpoolEntry, payload: [UInt8], reason: String, detail: String, _ delivered: inout [SpoolEntry]
    ) -> Bool {
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
        delivered.append(entry)
        settle(&delivered)
        return true
    }

    /// Writes the checkpoint file (covering every spooled batch so far), then deletes the delivered files.
    private func settle(_ delivered: inout [SpoolEntry]) {
        guard !delivered.isEmpty else { return }
        do {
            try checkpoints.commit(counters: counters)
        } catch {
            // Keep the files: their positions are still needed. They are retried at the next settle.
            counters.add(.checkpointWriteErrors)
            logger.error("cannot write checkpoints: \(error)")
            return
        }
        for entry in delivered { spool.deleteFile(entry) }
        delivered.removeAll()
    }

    /// Sleeps, but not past the deadline. False if cancelled or the deadline came first.
    private func pause(_ delay: Duration, until: Until) async -> Bool {
        var wake = ContinuousClock.now + delay
        if case .empty(_, let deadline?) = until {
            if deadline <= .now { return false }
            wake = min(wake, deadline)
        }
        do { try await Task.sleep(until: wake, clock: .continuous) } catch { return false }
        return true
    }
}
