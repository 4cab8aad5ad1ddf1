/// The sink driver's decisions, without I/O and without a clock: which batches to send next and together, what
/// each result means, when to retry, how fast to send, when to settle, when to stop. `SinkDriver` asks
/// `nextAction(now:)`, carries the action out (read the spool, merge batches, start a call, write the checkpoint
/// file, sleep, wait) and reports what came of it through the event methods (`read`, `merged`, `result`,
/// `deadLettered`, `settled`, `woke`, ...). The rules live here alone and are tested without a spool, a network
/// or a real clock, the way async-http-client keeps its connections' rules in state machines.
///
/// The rules:
/// - Calls go out in sequence order, at most `width` at once (the sink's concurrency, narrowed by failures and
///   429s, see `DeliveryPacing`). Results are acted on strictly in sequence order: a later call's result waits
///   for the earlier ones.
/// - Merging (a sink that `mergesBatches`, with `mergeBytes` > 0): a call takes the batches spooled after its
///   first one, in order, as long as their records fit in `mergeBytes` together, so a backlog drains in fewer,
///   fuller calls. The driver builds the body (`merge`); a merge that fails sends the batches one by one.
/// - Delivered: every batch of the call is acknowledged (the spool forgets it), in order; their files are
///   deleted at the next settle. A sink that is not idempotent settles after every call (a crash re-sends at
///   most what was in flight); an idempotent one every `idempotentSettleEvery` batches.
/// - Refused for good: a single batch is dead-lettered, then settled (if the dead-letter folder cannot take it,
///   it is retried); a merged call is split and its batches are sent one by one, so only a batch refused on its
///   own goes to the dead letters.
/// - Retryable: the window shrinks to one and the call is sent again after `Retry-After` plus jitter, or after
///   backoff (full jitter); a success widens the window again. A call sent again alone first takes the batches
///   spooled behind it meanwhile (merging), so an outage's backlog goes out in full calls.
/// - Throttled (429): as retryable, and the device slows down (`DeliveryPacing`): new calls start no sooner than
///   the slower pace allows and, for a while after the 429 (when following, not draining), not before they are
///   full or `fillHold` after the last delivered call; the call itself goes again after `Retry-After` plus a
///   random part of up to one budget window (without a `Retry-After`, after backoff and the pace).
/// - Jitter: every wait the upstream gives (`Retry-After`) gets a random part on top. After a 429 it is drawn from
///   0 to one budget window (`sink.budgetWindowSeconds`, 60 s: the window a data collection rule's budget is
///   counted over): a budget counted over a sliding minute turns a burst of accepted calls into a burst of room a
///   minute later, every device refused meanwhile is told that same instant, and a narrower spread keeps them
///   coming back in waves a minute apart. After other failures (a 503 with `Retry-After`) it is drawn from 0 to
///   half the wait (at least 2 s, at most 30 s). The first call of a following run waits a random time up to
///   `startJitter` (the driver gives one when the spool holds a backlog at start), so a fleet restarted together
///   does not send together.
/// - Uplink budget (`maxBytesPerSecond` > 0): a call starts only once the bytes of the earlier calls are paid
///   for at that rate (`UplinkBudget`).
/// - A batch that cannot be read is retried after backoff; a damaged one is set aside by the driver and settled.
/// - Stops when told (cancelled), at the deadline, after `maxAttempts` failures of one call, or, when draining,
///   once the spool is empty.
struct DeliveryStateMachine {
    /// How long to go on.
    enum Limit: Equatable {
        /// Until cancelled, waiting for new batches when the spool is empty.
        case follow
        /// Until the spool is empty, giving up after `maxAttempts` retryable failures of one call or at `deadline`.
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
        /// The call's first batch.
        let entry: SpoolEntry
        let attempt: Int
        let reason: String
        let retryAfter: Duration?
        let delay: Duration
        /// The upstream answered 429.
        var throttled = false
        /// Batches the call carries.
        var batches = 1
    }

    enum Action: Equatable {
        /// Read the oldest spooled batch after this sequence (the oldest of all if nil); report with `read(_:now:)`.
        case read(after: UInt64?)
        /// Start a call for this batch (one spooled batch, or several merged); its result comes back through
        /// `result`, under the batch's sequence.
        case send(SinkBatch)
        /// Merge these consecutive batches into one call (at most `mergeBytes`); report with `merged`.
        case merge([SinkBatch])
        /// A batch of the head call was delivered: forget it in the spool, count it. `recovered` after failed
        /// attempts.
        case acknowledge(SpoolEntry, recovered: Bool)
        /// The head batch was refused for good: move it to the dead letters, report with `deadLettered`.
        case deadLetter(SpoolEntry, payload: [UInt8], reason: String, detail: String)
        /// A merged call was refused for good: its batches go out one by one (log it).
        case split(first: UInt64, batches: Int, reason: String)
        /// The head call failed and will be sent again (log and count it); a `sleep` follows.
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

    /// One call: one spooled batch, or several consecutive ones merged.
    struct Flight: Equatable {
        var entries: [SpoolEntry]
        var payloads: [[UInt8]]
        /// The records' size of each batch as its gzip trailer gives it (a hint for merging).
        var plainBytes: [Int]
        /// The call as sent: the batch itself, or the merged body once built.
        var call: SinkBatch?
        /// May still take the batches spooled after it (merging, room left, not in flight).
        var open: Bool
        /// One of the batches of a merged call that was split (never merged again).
        var split = false
        var sent = false
        var sentAt: Duration = .zero
        var result: DeliveryResult?

        /// The first batch (the call goes by its sequence).
        var entry: SpoolEntry { entries[0] }
        var sequences: [UInt64] { entries.map(\.sequence) }

        var parts: [SinkBatch] {
            zip(entries, payloads).map {
                SinkBatch(sequence: $0.sequence, payload: $1, records: $0.records, format: $0.format)
            }
        }
    }

    private enum Phase: Equatable {
        case running
        /// The head call failed: send it again at this time (unless the spool dropped its batches meanwhile).
        case retrying(at: Duration)
        /// A read failed with nothing in flight: read again at this time.
        case readBackoff(at: Duration)
        case stopped(Stop)
    }

    static let idempotentSettleEvery = 16
    /// While a call waits to be full, how often the spool is looked at again.
    static let fillCheck: Duration = .seconds(10)
    /// The most batches one merged call carries.
    static let maxMergedBatches = 1000
    /// The random part added to other `Retry-After` waits is drawn from zero to half the wait, at least this...
    static let minRetryAfterJitter: Duration = .seconds(2)
    /// ...and at most this.
    static let maxRetryAfterJitter: Duration = .seconds(30)

    let limit: Limit
    let idempotent: Bool
    /// The largest merged call (records' bytes); 0: one batch per call.
    let mergeBytes: Int
    private(set) var pacing: DeliveryPacing
    private(set) var uplink: UplinkBudget
    /// The first call of this run waits until then.
    let startAt: Duration
    private(set) var flights: [Flight] = []
    /// Consecutive retryable failures of the head call.
    private(set) var attempts = 0
    /// Acknowledged or dead-lettered batches whose files wait for the checkpoint file.
    private(set) var unsettled: [SpoolEntry] = []
    private var backoff: Backoff
    private var random: SeededRandom
    private var phase = Phase.running
    private var settleDue = false
    /// The last read found nothing more: wait for results or for new batches before reading again.
    private var exhausted = false
    private var adoptionChecked = false
    /// A settle with nothing in flight was tried since the last event (it failed: do not loop on it).
    private var idleSettleTried = false
    /// Batches acknowledged since the head call's first one (to settle once the call is done).
    private var acknowledgedOfHead = 0

    /// - Parameters:
    ///   - concurrency: the widest window (the sink's concurrency).
    ///   - mergeBytes: the largest merged call in records' bytes (`batch.maxBytes`); 0 for one batch per call.
    ///   - maxBytesPerSecond: the uplink budget (compressed bytes); 0 for none.
    ///   - startJitter: the first call waits a random time up to this (zero: at once).
    ///   - budgetWindow: the window the upstream counts its budget over: a 429's retry is spread over it, and it
    ///     sets how long new calls wait to be full after one (see `DeliveryPacing`).
    ///   - random: the source of every jitter (a seeded one in tests).
    init(
        limit: Limit, concurrency: Int, idempotent: Bool, backoff: Backoff, mergeBytes: Int = 0,
        maxBytesPerSecond: Int = 0, startJitter: Duration = .zero, budgetWindow: Duration = .seconds(60),
        random: SeededRandom = SeededRandom()
    ) {
        self.limit = limit
        self.idempotent = idempotent
        self.backoff = backoff
        self.mergeBytes = max(0, mergeBytes)
        pacing = DeliveryPacing(concurrency: concurrency, window: budgetWindow)
        uplink = UplinkBudget(bytesPerSecond: maxBytesPerSecond)
        self.random = random
        startAt = startJitter > .zero ? max(.milliseconds(1), Jitter.upTo(startJitter, using: &self.random)) : .zero
    }

    /// The widest window (the sink's concurrency).
    var widest: Int { pacing.widest }
    /// Calls allowed in flight now.
    var width: Int { pacing.width }

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
                return acknowledgeHead(now: now)
            case .permanent(let reason, let detail):
                if head.entries.count > 1 {
                    split(0)
                    return .split(first: head.entry.sequence, batches: head.entries.count, reason: reason)
                }
                return .deadLetter(head.entry, payload: head.payloads[0], reason: reason, detail: detail)
            case .retryable(let reason, let retryAfter):
                pacing.failed()
                return retry(reason: reason, retryAfter: retryAfter, throttled: false, now: now)
            case .throttled(let reason, let retryAfter):
                pacing.throttled(sentAt: head.sentAt, now: now)
                return retry(reason: reason, retryAfter: retryAfter, throttled: true, now: now)
            }
        }
        // The next call: the first one not sent.
        if let i = flights.firstIndex(where: { !$0.sent }) {
            // Take the batches spooled behind it first (it is the last call, and open).
            if i == flights.count - 1 && flights[i].open && !exhausted {
                return .read(after: flights[i].entries.last?.sequence)
            }
            let sending = flights.count { $0.sent }
            if i == 0 || sending < width {
                // A call sent again follows its Retry-After or backoff, not the pace.
                let at = earliestSend(paced: !(i == 0 && attempts > 0), notFull: flights[i].open, now: now)
                if at > now {
                    // Not yet (the start jitter, the pace, the uplink budget): wait for a result, or sleep.
                    if flights.contains(where: { $0.sent && $0.result == nil }) { return .waitForResult }
                    return .sleep(until: capped(at))
                }
                if flights[i].call == nil {
                    if flights[i].entries.count > 1 { return .merge(flights[i].parts) }
                    flights[i].call = flights[i].parts[0]
                }
                let call = flights[i].call!
                flights[i].sent = true
                flights[i].open = false
                flights[i].sentAt = now
                pacing.sent(at: now)
                uplink.sent(call.payload.count, at: now)
                return .send(call)
            }
        }
        // Fill the window.
        if flights.count < width && !exhausted && !flights.contains(where: { !$0.sent }) {
            return .read(after: flights.last?.entries.last?.sequence)
        }
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

    /// The earliest time the next call may start: the start jitter; for a new call (`paced`) the pace and, while
    /// congested and following, the wait for a call that is not full (`notFull`) to fill up (looking again every
    /// `fillCheck`, as batches come; not in a drain, where nothing more comes); the uplink budget.
    func earliestSend(paced: Bool = true, notFull: Bool = false, now: Duration = .zero) -> Duration {
        var at = startAt
        if paced, let next = pacing.nextSend { at = max(at, next) }
        if let paid = uplink.freeAt { at = max(at, paid) }
        if paced && notFull && limit == .follow, let until = pacing.fillUntil(now: now), until > at {
            at = min(until, max(at, now + Self.fillCheck))
        }
        return at
    }

    private mutating func acknowledgeHead(now: Duration) -> Action {
        let entry = flights[0].entries.removeFirst()
        flights[0].payloads.removeFirst()
        flights[0].plainBytes.removeFirst()
        unsettled.append(entry)
        let recovered = attempts > 0 && acknowledgedOfHead == 0
        acknowledgedOfHead += 1
        if flights[0].entries.isEmpty {
            flights.removeFirst()
            acknowledgedOfHead = 0
            attempts = 0
            backoff.reset()
            pacing.delivered(now: now)
            if !idempotent || unsettled.count >= Self.idempotentSettleEvery { settleDue = true }
        }
        return .acknowledge(entry, recovered: recovered)
    }

    private mutating func retry(reason: String, retryAfter: Duration?, throttled: Bool, now: Duration) -> Action {
        attempts += 1
        var delay: Duration
        if let retryAfter {
            let spread =
                throttled
                ? pacing.window : min(Self.maxRetryAfterJitter, max(Self.minRetryAfterJitter, retryAfter / 2))
            delay = retryAfter + Jitter.upTo(spread, using: &random)
        } else {
            delay = backoff.next(using: &random)
        }
        // Without a Retry-After, a 429 is not sent again sooner than the pace allows.
        if throttled && retryAfter == nil, let paced = pacing.nextSend { delay = max(delay, paced - now) }
        flights[0].result = nil
        let info = Retry(
            entry: flights[0].entry, attempt: attempts, reason: reason, retryAfter: retryAfter, delay: delay,
            throttled: throttled, batches: flights[0].entries.count)
        if case .drain(let maxAttempts, _) = limit, attempts >= maxAttempts {
            phase = .stopped(.attempts)
        } else {
            phase = .retrying(at: now + delay)
        }
        return .retry(info)
    }

    /// Replaces call `i` by one call per batch, not to be merged again.
    private mutating func split(_ i: Int) {
        let f = flights[i]
        let singles = f.entries.indices.map {
            Flight(
                entries: [f.entries[$0]], payloads: [f.payloads[$0]], plainBytes: [f.plainBytes[$0]], open: false,
                split: true)
        }
        flights.replaceSubrange(i...i, with: singles)
    }

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
            idleSettleTried = false
            // Unknown sizes never merge.
            let size = BatchMerger.declaredPlainSize(payload) ?? Int.max / 4
            if let last = flights.indices.last, flights[last].open {
                let joined = BatchMerger.joinedSize(flights[last].plainBytes + [size])
                if joined <= mergeBytes && flights[last].entries.count < Self.maxMergedBatches {
                    flights[last].entries.append(entry)
                    flights[last].payloads.append(payload)
                    flights[last].plainBytes.append(size)
                    flights[last].call = nil  // built again with the new batch
                    return
                }
                flights[last].open = false
            }
            flights.append(
                Flight(entries: [entry], payloads: [payload], plainBytes: [size], open: mergeBytes > 0 && size < mergeBytes))
        case .none:
            exhausted = true
        case .setAside(let entry):
            unsettled.append(entry)
            settleDue = true
        case .failed:
            if flights.isEmpty {
                phase = .readBackoff(at: now + backoff.next(using: &random))
            } else {
                exhausted = true  // wait for the calls in flight first
                if let last = flights.indices.last { flights[last].open = false }
            }
        }
    }

    /// The outcome of the `merge` action for the call starting at `first`: the merged call, or nil if the batches
    /// cannot be merged (they go out one by one).
    mutating func merged(first: UInt64, into call: SinkBatch?) {
        guard let i = flights.firstIndex(where: { !$0.sent && $0.entries.first?.sequence == first }) else { return }
        if let call {
            flights[i].call = call
        } else {
            split(i)
        }
    }

    /// A call's result (any order; acted on in sequence order), under the sequence of its first batch.
    mutating func result(sequence: UInt64, _ result: DeliveryResult) {
        guard let i = flights.firstIndex(where: { $0.sent && $0.entries.first?.sequence == sequence }) else { return }
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

    /// A `sleep` ended (at its time, or early at the deadline). `spooled`: whether the spool still holds a batch
    /// (the budget or the TTL may have dropped it meanwhile): calls not in flight forget the batches it dropped.
    mutating func woke(now: Duration, spooled: (UInt64) -> Bool) {
        switch phase {
        case .readBackoff(let at) where now >= at:
            phase = .running
        case .retrying(let at) where now >= at:
            phase = .running
            if !flights.isEmpty {
                flights[0].sent = false
                // A lone call sent again takes what was spooled behind it meanwhile (an outage's backlog goes out
                // in full calls, not behind a small one formed when it began).
                if flights.count == 1 && mergeBytes > 0 && !flights[0].split
                    && BatchMerger.joinedSize(flights[0].plainBytes) < mergeBytes
                {
                    flights[0].open = true
                }
            }
        default:
            break
        }
        // Calls waiting to go: drop what the spool dropped (a changed call is built again).
        var i = 0
        while i < flights.count {
            if flights[i].sent {
                i += 1
                continue
            }
            let keep = flights[i].entries.indices.filter { spooled(flights[i].entries[$0].sequence) }
            if keep.count != flights[i].entries.count {
                flights[i].entries = keep.map { flights[i].entries[$0] }
                flights[i].payloads = keep.map { flights[i].payloads[$0] }
                flights[i].plainBytes = keep.map { flights[i].plainBytes[$0] }
                flights[i].call = nil
                if i == 0 && flights[i].entries.isEmpty { attempts = 0 }
            }
            if flights[i].entries.isEmpty {
                flights.remove(at: i)
            } else {
                i += 1
            }
        }
        exhausted = false
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
        let late = flights.filter { $0.result == .delivered }.flatMap(\.entries)
        flights.removeAll { $0.result == .delivered }
        unsettled.append(contentsOf: late)
        return (late, unsettled)
    }
}
