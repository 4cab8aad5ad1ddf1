/// How fast one device sends while its upstream throttles it (HTTP 429), in the manner of TCP's congestion
/// control (additive increase, multiplicative decrease), so that a fleet sharing one budget (a data collection
/// rule's requests and bytes per minute) converges to a fair share of it without knowing its size:
///
/// - A 429 halves the calls allowed at once (`width`, at least 1) and the call rate: the first one sets the rate
///   to half the rate the device was sending at (over its last calls), later ones halve it again, down to one call
///   every 5 minutes. Only a 429 for a call sent after the last decrease counts: the calls already in flight
///   then belong to the same episode.
/// - Each delivered call regains one call at once (up to the sink's concurrency) and adds to the rate in
///   proportion to the time since the last change (`increasePerSecond` calls/s per second: one call every
///   100 s gained in 1,000 s); at 10 calls per second the device is no longer paced. The same gain per second for
///   every device, and losses in proportion to each one's rate: devices sharing a rule converge to equal rates,
///   as in TCP. A device that is refused a share p of its calls settles at sqrt(2 × increasePerSecond / p); with
///   a gain per delivered call it would settle at a rate in proportion to 1 / p, so the devices that happen to
///   get in more often (those arriving just as the budget frees) would take far more than the others. Once a
///   fleet has settled, about 2 × increasePerSecond / rate² of the calls are answered 429: 20 % when a device's
///   share is one call every 100 s (a fleet of 20,000 on one rule), 0.2 % at one call every 10 s.
/// - Other failures (an outage) leave the rate alone and narrow the window to one call until a success.
///
/// While paced, a new call starts at least `1 / rate` after the previous one (a call sent again after a 429 waits
/// for `Retry-After` and a random part of up to one budget window instead, see `DeliveryStateMachine`). Batches
/// wait in the spool meanwhile and go out merged into fuller calls (see `BatchMerger`), so pacing lowers the
/// number of calls, not the bytes.
///
/// Full calls while congested: for `congestedFor` (ten budget windows) after any 429, a new call that is not full
/// (its batches do not fill `batch.maxBytes`) waits until `fillHold` (two budget windows) after the last delivered
/// call. A device that has just been let in would otherwise come back at once with the few records written since,
/// and small calls spend a rule's request budget without carrying its bytes.
struct DeliveryPacing: Equatable {
    /// The slowest pace: one call every 5 minutes.
    static let slowestRate = 1.0 / 300
    /// At or above this rate (calls per second) the device is no longer paced.
    static let unpacedRate = 10.0
    /// Calls per second regained per second without a 429.
    static let increasePerSecond = 1.0 / 100_000
    /// The rate a first 429 starts from when too few calls were made to measure one.
    static let unmeasuredRate = 1.0
    /// How many recent call starts the sending rate is measured over.
    static let measuredCalls = 8
    /// The window the upstream counts its budget over (`sink.budgetWindowSeconds`: a data collection rule's
    /// minute).
    let window: Duration
    /// How long after a 429 the device counts as congested (new calls wait to be full, see `fillUntil`): ten
    /// windows.
    var congestedFor: Duration { window * 10 }
    /// While congested, a call that is not full waits until this long after the last delivered call: two windows.
    var fillHold: Duration { window * 2 }

    let widest: Int
    private(set) var width: Int
    /// Calls per second allowed; nil while not paced.
    private(set) var rate: Double?
    /// When the last call started.
    private(set) var lastSend: Duration?
    /// When the last 429 slowed the device down.
    private(set) var lastDecrease: Duration?
    private var lastIncrease: Duration = .zero
    /// When the last 429 came (any, not only those that slowed the device down).
    private(set) var lastThrottle: Duration?
    /// When the last call was delivered.
    private(set) var lastDelivery: Duration?
    private var recentSends: [Duration] = []

    init(concurrency: Int, window: Duration = .seconds(60)) {
        self.window = max(.milliseconds(1), window)
        widest = max(1, concurrency)
        width = widest
    }

    /// The least time between two call starts; nil while not paced.
    var interval: Duration? { rate.map { .fromSeconds(1 / $0) } }

    /// The earliest time the next call may start; nil while not paced (or before the first call).
    var nextSend: Duration? {
        guard let interval, let lastSend else { return nil }
        return lastSend + interval
    }

    /// A call started.
    mutating func sent(at now: Duration) {
        lastSend = now
        recentSends.append(now)
        if recentSends.count > Self.measuredCalls { recentSends.removeFirst(recentSends.count - Self.measuredCalls) }
    }

    /// The rate the device sent at over its recent calls (calls per second), if it can be told.
    var measuredRate: Double? {
        guard recentSends.count >= 2, let first = recentSends.first, let last = recentSends.last, last > first else {
            return nil
        }
        return Double(recentSends.count - 1) / (last - first).inSeconds
    }

    /// A 429 for a call sent at `sentAt`. Returns whether the device slowed down (false: the same episode).
    @discardableResult
    mutating func throttled(sentAt: Duration, now: Duration) -> Bool {
        lastThrottle = now
        if let lastDecrease, sentAt < lastDecrease { return false }
        width = max(1, width / 2)
        let from = rate ?? min(measuredRate ?? 2 * Self.unmeasuredRate, Self.unpacedRate)
        rate = max(Self.slowestRate, from / 2)
        lastDecrease = now
        lastIncrease = now
        return true
    }

    /// A call was delivered.
    mutating func delivered(now: Duration) {
        lastDelivery = now
        width = min(widest, width + 1)
        guard let current = rate else { return }
        let grown = current + Self.increasePerSecond * max(0, (now - lastIncrease).inSeconds)
        lastIncrease = now
        rate = grown >= Self.unpacedRate ? nil : grown
    }

    /// Whether a 429 came less than `congestedFor` ago.
    func congested(now: Duration) -> Bool {
        guard let lastThrottle else { return false }
        return now - lastThrottle < congestedFor
    }

    /// Until when a new call that is not full waits for more batches: `fillHold` after the last delivered call, while
    /// a 429 came less than `congestedFor` ago; nil when it need not wait.
    func fillUntil(now: Duration) -> Duration? {
        guard congested(now: now), let lastDelivery else { return nil }
        let until = lastDelivery + fillHold
        return until > now ? until : nil
    }

    /// A retryable failure other than a 429: one call at a time until a call gets through.
    mutating func failed() { width = 1 }
}
