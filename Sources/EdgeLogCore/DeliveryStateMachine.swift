/// The sink driver's decisions, without I/O and without a clock: which batch to send next, what each result
/// means, when to retry, when to settle, when to stop. `SinkDriver` asks `nextAction(now:)`, carries the
/// action out (read the spool, start a call, write the checkpoint file, sleep, wait) and reports what came of it
/// through the event methods (`read`, `result`, `deadLettered`, `settled`, `woke`, ...). The rules live here
/// alone and are tested without a spool, a network or a real clock, the way async-http-client keeps its
/// connections' rules in state machines.
///
/// The rules:
/// - Up to `width` batches are in flight, in sequence order (`width` starts at the sink's concurrency).
/// - Results are acted on strictly in sequence order: a later batch's result waits for the earlier ones.
/// - Delivered: acknowledged (the spool forgets it); its file is deleted at the next settle. A sink that is not
///   idempotent settles after every delivery (a crash re-sends at most what was in flight); an idempotent one
///   every `idempotentSettleEvery` deliveries.
/// - Refused for good: dead-lettered, then settled; if the dead-letter folder cannot take it, it is retried.
/// - Retryable: the window shrinks to one, the batch is sent again after `Retry-After` or backoff; a success
///   opens the window again. (Slowing down further on 429, or widening gradually, belongs in `narrow` and `widen`.)
/// - A batch that cannot be read is retried after backoff; a damaged one is set aside by the driver and settled.
/// - Stops when told (cancelled), at the deadline, after `maxAttempts` failures of one batch, or, when
///   draining, once the spool is empty.
struct DeliveryStateMachine {
    /// How long to go on.
    enum Limit: Equatable {
        /// Until cancelled, waiting for new batches when the spool is empty.
        case follow
        /// Until the spool is empty, giving up after `maxAttempts` retryable failures of one batch or at `deadline`.
        case drain(maxAttempts: Int, deadline: Duration?)
    }

    /// Why the driver stops.
    enum Stop: Equatable {
        case cancelled
        case deadline
        case attempts
        /// Draining, and the spool is empty.
        case drained
    }

    /// A retryable failure, as the driver logs and counts it.
    struct Retry: Equatable {
        let entry: SpoolEntry
        let attempt: Int
        let reason: String
        let retryAfter: Duration?
        let delay: Duration
    }

    enum Action: Equatable {
        /// Read the oldest spooled batch after this sequence (the oldest of all if nil); report with `read(_:now:)`.
        case read(after: UInt64?)
        /// Start a call for this batch; its result comes back through `result`.
        case send(SinkBatch)
        /// The head batch was delivered: forget it in the spool, count it. `recovered` after failed attempts.
        case acknowledge(SpoolEntry, recovered: Bool)
        /// The head batch was refused for good: move it to the dead letters, report with `deadLettered`.
        case deadLetter(SpoolEntry, payload: [UInt8], reason: String, detail: String)
        /// The head batch failed and will be sent again (log and count it); a `sleep` follows.
        case retry(Retry)
        /// Write the checkpoint file, then delete these batches' files; report with `settled`.
        case settle([SpoolEntry])
        /// Sleep until then (on the driver's clock), then report `woke`.
        case sleep(until: Duration)
        /// Wait for a call's result (or the deadline).
        case waitForResult
        /// The spool is empty: look for batches `edgelog deadletter retry` put back; report with `adopted`.
        case adopt
        /// Wait until batches are admitted; report with `batchesArrived`.
        case waitForBatches
        case stop(Stop)
    }

    /// What reading the spool gave.
    enum ReadOutcome {
        case batch(SpoolEntry, payload: [UInt8])
        /// Nothing after the sequence asked for.
        case none
        /// A damaged batch the driver moved aside: settle it like a delivered one and read on.
        case setAside(SpoolEntry)
        /// The read failed (an I/O error).
        case failed
    }

    struct Flight: Equatable {
        let entry: SpoolEntry
        let payload: [UInt8]
        var sent = false
        var result: DeliveryResult?
    }

    private enum Phase: Equatable {
        case running
        /// The head failed: send it again at this time (unless the spool dropped it meanwhile).
        case retrying(at: Duration)
        /// A read failed with nothing in flight: read again at this time.
        case readBackoff(at: Duration)
        case stopped(Stop)
    }

    static let idempotentSettleEvery = 16

    let limit: Limit
    /// The widest window (the sink's concurrency).
    let widest: Int
    let idempotent: Bool
    private(set) var width: Int
    private(set) var flights: [Flight] = []
    /// Consecutive retryable failures of the head batch.
    private(set) var attempts = 0
    /// Acknowledged or dead-lettered batches whose files wait for the checkpoint file.
    private(set) var unsettled: [SpoolEntry] = []
    private var backoff: Backoff
    private var phase = Phase.running
    private var settleDue = false
    /// The last read found nothing more: wait for results or for new batches before reading again.
    private var exhausted = false
    private var adoptionChecked = false
    /// A settle with nothing in flight was tried since the last event (it failed: do not loop on it).
    private var idleSettleTried = false

    init(limit: Limit, concurrency: Int, idempotent: Bool, backoff: Backoff) {
        self.limit = limit
        widest = max(1, concurrency)
        width = widest
        self.idempotent = idempotent
        self.backoff = backoff
    }

    var stopped: Stop? {
        if case .stopped(let why) = phase { return why }
        return nil
    }

    // MARK: - What next

    mutating func nextAction(now: Duration) -> Action {
        if case .stopped(let why) = phase { return .stop(why) }
        if case .drain(_, let deadline?) = limit, now >= deadline { return stop(.deadline) }
        if settleDue && !unsettled.isEmpty {
            settleDue = false
            return .settle(unsettled)
        }
        switch phase {
        case .retrying(let at), .readBackoff(let at):
            return .sleep(until: capped(at))
        case .running, .stopped:
            break
        }
        // Results, in sequence order.
        if let head = flights.first, let result = head.result {
            switch result {
            case .delivered:
                flights.removeFirst()
                unsettled.append(head.entry)
                let recovered = attempts > 0
                attempts = 0
                backoff.reset()
                widen()
                if !idempotent || unsettled.count >= Self.idempotentSettleEvery { settleDue = true }
                return .acknowledge(head.entry, recovered: recovered)
            case .permanent(let reason, let detail):
                return .deadLetter(head.entry, payload: head.payload, reason: reason, detail: detail)
            case .retryable(let reason, let retryAfter):
                return retry(reason: reason, retryAfter: retryAfter, now: now)
            }
        }
        // A batch to send.
        if let i = flights.firstIndex(where: { !$0.sent }) {
            flights[i].sent = true
            let e = flights[i].entry
            return .send(SinkBatch(sequence: e.sequence, payload: flights[i].payload, records: e.records, format: e.format))
        }
        // Fill the window.
        if flights.count < width && !exhausted { return .read(after: flights.last?.entry.sequence) }
        if !flights.isEmpty { return .waitForResult }
        // Nothing in flight and nothing more to read.
        if !unsettled.isEmpty && !idleSettleTried {
            idleSettleTried = true
            return .settle(unsettled)
        }
        // Requeued dead letters are taken only when no delivered batch waits for its file to go (it would be
        // taken again).
        if !adoptionChecked && unsettled.isEmpty {
            adoptionChecked = true
            return .adopt
        }
        if case .drain = limit { return stop(.drained) }
        return .waitForBatches
    }

    private mutating func retry(reason: String, retryAfter: Duration?, now: Duration) -> Action {
        attempts += 1
        let delay = retryAfter ?? backoff.next()
        flights[0].result = nil
        narrow()
        let info = Retry(entry: flights[0].entry, attempt: attempts, reason: reason, retryAfter: retryAfter, delay: delay)
        if case .drain(let maxAttempts, _) = limit, attempts >= maxAttempts {
            phase = .stopped(.attempts)
        } else {
            phase = .retrying(at: now + delay)
        }
        return .retry(info)
    }

    /// After a failure only the failed batch is sent until it gets through.
    private mutating func narrow() { width = 1 }

    /// After a success the window opens fully again.
    private mutating func widen() { width = widest }

    private func capped(_ wake: Duration) -> Duration {
        if case .drain(_, let deadline?) = limit { return min(wake, deadline) }
        return wake
    }

    private mutating func stop(_ why: Stop) -> Action {
        phase = .stopped(why)
        return .stop(why)
    }

    // MARK: - Events

    /// What the `read` action found.
    mutating func read(_ outcome: ReadOutcome, now: Duration) {
        switch outcome {
        case .batch(let entry, let payload):
            flights.append(Flight(entry: entry, payload: payload))
            idleSettleTried = false
        case .none:
            exhausted = true
        case .setAside(let entry):
            unsettled.append(entry)
            settleDue = true
        case .failed:
            if flights.isEmpty {
                phase = .readBackoff(at: now + backoff.next())
            } else {
                exhausted = true  // wait for the calls in flight first
            }
        }
    }

    /// A call's result (any order; acted on in sequence order).
    mutating func result(sequence: UInt64, _ result: DeliveryResult) {
        guard let i = flights.firstIndex(where: { $0.entry.sequence == sequence }) else { return }
        flights[i].result = result
        exhausted = false
        idleSettleTried = false
    }

    /// The outcome of the `deadLetter` action.
    mutating func deadLettered(_ stored: Bool, now: Duration) {
        guard let head = flights.first, case .permanent = head.result else { return }
        if stored {
            flights.removeFirst()
            unsettled.append(head.entry)
            settleDue = true
            attempts = 0
        } else {
            flights[0].result = .retryable(reason: "cannot dead-letter", retryAfter: nil)
        }
    }

    /// The outcome of the `settle` action: the files are deleted, or the checkpoint file could not be written and
    /// they stay (tried again at the next settle).
    mutating func settled(_ done: Bool) {
        if done { unsettled.removeAll() }
    }

    /// A `sleep` ended (at its time, or early at the deadline). `headSpooled`: whether the spool still holds the
    /// head batch (the budget or the TTL may have dropped it meanwhile).
    mutating func woke(now: Duration, headSpooled: Bool) {
        switch phase {
        case .readBackoff(let at) where now >= at:
            phase = .running
        case .retrying(let at) where now >= at:
            phase = .running
            guard !flights.isEmpty else { return }
            if headSpooled {
                flights[0].sent = false
            } else {
                flights.removeFirst()
                attempts = 0
            }
        default:
            break
        }
    }

    /// The outcome of the `adopt` action.
    mutating func adopted(_ found: Bool) {
        if found { exhausted = false }
    }

    /// New batches were admitted (or the driver was nudged to look for requeued ones).
    mutating func batchesArrived() {
        exhausted = false
        adoptionChecked = false
        idleSettleTried = false
    }

    /// The driver is stopping (its task was cancelled).
    mutating func cancel() {
        if stopped == nil { phase = .stopped(.cancelled) }
    }

    /// After the stop: batches delivered while stopping, in any order (their positions are committed; only
    /// their files go, so they are not sent again next time), with the earlier unsettled ones.
    mutating func deliveredAtStop() -> (acknowledged: [SpoolEntry], unsettled: [SpoolEntry]) {
        let late = flights.filter { $0.result == .delivered }.map(\.entry)
        flights.removeAll { $0.result == .delivered }
        unsettled.append(contentsOf: late)
        return (late, unsettled)
    }
}
