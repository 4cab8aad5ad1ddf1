import Logging
import Synchronization

/// Delivers spooled batches in order and deletes each only after the sink confirmed it. The rules (the sending
/// window, merging a backlog into fuller calls, in-order settlement, retries with jitter, slowing down on 429,
/// the uplink budget, dead letters, when to stop) are `DeliveryStateMachine`'s; this type carries out its
/// actions: reading the spool, merging batches, the calls, the checkpoint file through the committer, the
/// dead-letter folder, the clock, and the counters and log lines of each event.
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
    let clock: ElapsedClock
    /// How batches are merged into one call (nil: one batch per call).
    let merging: Merging?
    /// `sink.maxBytesPerSecond` (0: no cap).
    let maxBytesPerSecond: Int
    /// The first call of a following run that finds a backlog waits a random time up to this.
    let startJitter: Duration
    /// `sink.budgetWindowSeconds`.
    let budgetWindow: Duration
    /// When the driver was made (Unix ms), for the delivery rate of a young driver.
    let createdMillis: Int64
    /// Batch files at or below this sequence were written before this process started (see `Spool.adoptRequeued`).
    let committedAtStart: UInt64

    private struct State {
        var lastDeliveryMillis: Int64?
        var lastError: String?
        var failingSinceMillis: Int64?
        var deadLettersWhileFailing = 0
        var pace = Pace(width: 0, callInterval: nil)
        /// Spool bytes acknowledged, by second (Unix time), over the last `rateWindowSeconds`.
        var delivered: [(second: Int64, bytes: Int64)] = []
    }
    private let state = Mutex(State())

    /// How consecutive batches are merged into one call.
    public struct Merging: Sendable {
        /// The largest call, in records' bytes (`batch.maxBytes`).
        public var maxBytes: Int
        public var compressor: any BatchCompressor
        /// gzip level of a merged body.
        public var level: Int

        public init(maxBytes: Int, compressor: any BatchCompressor, level: Int) {
            self.maxBytes = maxBytes
            self.compressor = compressor
            self.level = level
        }
    }

    /// The default `startJitter`: a fleet restarted together spreads its first calls over 10 s.
    public static let defaultStartJitter: Duration = .seconds(10)

    /// - Parameters:
    ///   - backoff: the delays between retries when the sink gives no `Retry-After` (1 s doubling to 5 min with
    ///     full jitter unless told otherwise).
    ///   - clock: the driver's time: retries, the deadline of a drain, the shutdown patience, the adoption tick,
    ///     the pace and the uplink budget. Tests give a manual clock.
    ///   - merging: how to merge batches into one call, for a sink that `mergesBatches` (nil: never).
    ///   - maxBytesPerSecond: the uplink budget, compressed bytes per second across calls (0: none).
    ///   - startJitter: when a following run starts with batches spooled, its first call waits a random time up to
    ///     this, so a fleet restarted together does not send together (zero: at once).
    ///   - budgetWindow: the window the upstream counts its budget over (`sink.budgetWindowSeconds`): a 429's
    ///     retry is spread over it.
    public init<C: Clock>(
        spool: Spool, sink: any Sink, deadLetters: DeadLetterStore, committer: CheckpointCommitter, counters: Counters,
        logger: Logger, backoff: Backoff = Backoff(), clock: C, merging: Merging? = nil, maxBytesPerSecond: Int = 0,
        startJitter: Duration = .zero, budgetWindow: Duration = .seconds(60)
    ) where C.Duration == Duration {
        self.committer = committer
        self.spool = spool
        self.sink = sink
        self.deadLetters = deadLetters
        self.counters = counters
        self.logger = logger
        self.initialBackoff = backoff
        self.clock = ElapsedClock(clock)
        self.committedAtStart = committer.store.lastSequence
        self.merging = sink.mergesBatches ? merging : nil
        self.maxBytesPerSecond = max(0, maxBytesPerSecond)
        self.startJitter = startJitter
        self.budgetWindow = budgetWindow
        createdMillis = FileSystem.nowMillis()
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

    /// How fast the driver is allowed to send now (see `DeliveryPacing`).
    public struct Pace: Sendable, Equatable {
        /// Calls allowed in flight at once (the sink's concurrency, narrowed after failures and 429s); 0 before
        /// the driver runs.
        public var width: Int
        /// The least time between two calls' starts while slowed down by 429s; nil when not.
        public var callInterval: Duration?
        /// A 429 came less than ten budget windows ago: new calls wait to be full (see `DeliveryPacing`).
        public var congested: Bool

        public init(width: Int, callInterval: Duration?, congested: Bool = false) {
            self.width = width
            self.callInterval = callInterval
            self.congested = congested
        }
    }

    public var pace: Pace { state.withLock { $0.pace } }

    /// Over how long the delivery rate is measured.
    public static let rateWindowSeconds: Int64 = 60

    /// Spool bytes (compressed) acknowledged per second over the last minute (over the driver's life if that is
    /// shorter), or nil if nothing was delivered in that time.
    public func deliveryRate(nowMillis: Int64 = FileSystem.nowMillis()) -> Double? {
        let now = nowMillis / 1000
        return state.withLock { s -> Double? in
            let recent = s.delivered.filter { $0.second > now - Self.rateWindowSeconds }
            guard !recent.isEmpty else { return nil }
            let total = recent.reduce(Int64(0)) { $0 + $1.bytes }
            let span = max(1, min(Self.rateWindowSeconds, now - createdMillis / 1000))
            return Double(total) / Double(span)
        }
    }

    /// The rate the spool drains at, for the time-to-drain estimate: the delivery rate over the last minute, or,
    /// with nothing delivered in that time, `sink.maxBytesPerSecond` if set; nil if neither is known.
    public func effectiveRate(nowMillis: Int64 = FileSystem.nowMillis()) -> Double? {
        if let measured = deliveryRate(nowMillis: nowMillis), measured > 0 { return measured }
        return maxBytesPerSecond > 0 ? Double(maxBytesPerSecond) : nil
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
        // A fleet restarted together finds its backlogs together: the first call waits a random time.
        let jitter = limit == .follow && spool.oldest != nil ? startJitter : .zero
        var machine = DeliveryStateMachine(
            limit: limit, concurrency: sink.maxConcurrentDeliveries, idempotent: sink.idempotent, backoff: initialBackoff,
            mergeBytes: merging?.maxBytes ?? 0, maxBytesPerSecond: maxBytesPerSecond, startJitter: jitter,
            budgetWindow: budgetWindow)
        if jitter > .zero, machine.startAt > .zero {
            logger.info("sink \(sink.name): \(spool.snapshot.count) batch(es) spooled; the first call waits \(machine.startAt) (start jitter)")
        }
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
                publish(machine)
                switch action {
                case .read(let after):
                    await spool.expire(nowMillis: FileSystem.nowMillis())
                    machine.read(await read(after: after), now: clock.now())
                case .send(let batch):
                    let call = Task { [sink] in await sink.deliver(batch) }
                    calls[batch.sequence] = call
                    group.addTask { (batch.sequence, await call.value) }
                case .merge(let parts):
                    machine.merged(first: parts[0].sequence, into: await merge(parts))
                case .split(let first, let batches, let reason):
                    logger.warning(
                        "sink \(sink.name) refused the call carrying batches \(first)… (\(batches) merged): \(reason); sending them one by one"
                    )
                case .acknowledge(let entry, let recovered):
                    acknowledge(entry)
                    if recovered { logger.info("sink \(sink.name) is delivering again") }
                case .deadLetter(let entry, let payload, let reason, let detail):
                    failed(reason)
                    let moved = await deadLetter(entry, payload: payload, reason: reason, detail: detail)
                    machine.deadLettered(moved, now: clock.now())
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
                    // What the spool still holds, for the calls waiting to go (a retried call is one again on waking).
                    let held = machine.flights.isEmpty ? [] : Set(spool.snapshot.map(\.sequence))
                    machine.woke(now: clock.now(), spooled: held.contains)
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

    private func publish(_ machine: DeliveryStateMachine) {
        let pace = Pace(
            width: machine.width, callInterval: machine.pacing.interval,
            congested: machine.pacing.congested(now: clock.now()))
        state.withLock { if $0.pace != pace { $0.pace = pace } }
    }

    /// The batches as one call, or nil if they cannot be merged (they then go one by one).
    private func merge(_ parts: [SinkBatch]) async -> SinkBatch? {
        guard let merging else { return nil }
        let format = sink.format
        guard
            let call = await BlockingPool.run({
                BatchMerger.merge(
                    parts, as: format, limit: merging.maxBytes, compressor: merging.compressor, level: merging.level)
            })
        else {
            logger.debug("batches \(parts[0].sequence)… (\(parts.count)) cannot be merged into one call; sending them one by one")
            return nil
        }
        counters.add(.callsMerged)
        counters.add(.batchesMerged, parts.count)
        return call
    }

    /// The oldest spooled batch after `sequence`, read and checked. A damaged one goes to the dead letters here.
    private func read(after sequence: UInt64?) async -> DeliveryStateMachine.ReadOutcome {
        while true {
            guard let entry = spool.first(after: sequence) else { return .none }
            do {
                let spool = self.spool
                switch try await BlockingPool.run({ () throws -> Spool.Read in try spool.read(entry) }) {
                case .batch(let payload):
                    return .batch(entry, payload: payload)
                case .gone:
                    spool.remove(entry)  // dropped by the budget meanwhile
                case .damaged(let reason, let bytes):
                    if await setAside(entry, bytes: bytes, reason: reason) { return .setAside(entry) }
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
    private func setAside(_ entry: SpoolEntry, bytes: [UInt8]?, reason: String) async -> Bool {
        let why = "the spool file is damaged: \(reason)"
        let (deadLetters, spoolDirectory) = (self.deadLetters, spool.directory)
        do {
            try await BlockingPool.run { () throws -> Void in
                if let bytes {
                    try deadLetters.store(entry, payload: bytes, reason: why, detail: "")
                } else {
                    try deadLetters.take(entry, from: spoolDirectory, reason: why)
                }
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
        let now = FileSystem.nowMillis()
        state.withLock {
            let second = now / 1000
            if let last = $0.delivered.last, last.second == second {
                $0.delivered[$0.delivered.count - 1].bytes += entry.bytes
            } else {
                $0.delivered.append((second, entry.bytes))
            }
            if let first = $0.delivered.first, first.second <= second - Self.rateWindowSeconds {
                $0.delivered.removeAll { $0.second <= second - Self.rateWindowSeconds }
            }
            $0.lastDeliveryMillis = now
            $0.lastError = nil
            $0.failingSinceMillis = nil
            $0.deadLettersWhileFailing = 0
        }
    }

    private func noteRetry(_ retry: DeliveryStateMachine.Retry) {
        counters.add(.deliveryRetries)
        if retry.throttled { counters.add(.deliveryThrottled) }
        failed(retry.reason)
        if let after = retry.retryAfter {
            counters.add(.deliveryRetryAfterWaits)
            let (seconds, atto) = after.components
            counters.add(.deliveryRetryAfterMillis, Int(seconds * 1000 + atto / 1_000_000_000_000_000))
        }
        if retry.attempt == 1 || retry.attempt % 10 == 0 {
            logger.warning(
                "sink \(sink.name) failed batch \(retry.entry.sequence)\(retry.batches > 1 ? " (and \(retry.batches - 1) merged with it)" : "") (attempt \(retry.attempt)), retrying in \(retry.delay)\(retry.throttled ? ", slowing down" : ""): \(retry.reason)"
            )
        }
    }

    /// Moves a refused batch to the dead-letter folder. False if that failed (the batch stays spooled).
    private func deadLetter(_ entry: SpoolEntry, payload: [UInt8], reason: String, detail: String) async -> Bool {
        let deadLetters = self.deadLetters
        do {
            try await BlockingPool.run { () throws -> Void in
                try deadLetters.store(entry, payload: payload, reason: reason, detail: detail)
            }
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
