/// How fast one device sends while its upstream throttles it (HTTP 429), in the manner of TCP's congestion
/// control (additive increase, multiplicative decrease), so that a fleet sharing one budget (a data collection
/// rule's requests and bytes per minute) converges to a fair share of it without knowing its size:
///
/// - A 429 halves the calls allowed at once (`width`, at least 1) and the call rate: the first one sets the rate
///   to half the rate the device was sending at (over its last calls), later ones halve it again, down to one call
///   every 5 minutes. Only a 429 for a call sent after the last decrease counts: the calls already in flight
///   then belong to the same episode.
/// - Each delivered call regains one call at once (up to the sink's concurrency) and raises the rate by one call
///   an hour plus 1/32 of itself (`increasePerCall`, `growthPerCall`); at 10 calls per second the device is no
///   longer paced. Per call rather than per second, so the share of calls answered 429 once a fleet has settled
///   stays moderate however small each device's share is: about 2 × (increasePerCall / rate + growthPerCall),
///   12 % when a device's share is one call every 100 s, 6 % for large shares. The additive part makes devices
///   that share a rule converge to equal rates, as in TCP.
/// - Other failures (an outage) leave the rate alone and narrow the window to one call until a success.
///
/// While paced, a call starts at least `1 / rate` after the previous one. Batches wait in the spool meanwhile and
/// go out merged into fuller calls (see `BatchMerger`), so pacing lowers the number of calls, not the bytes.
struct DeliveryPacing: Equatable {
    /// The slowest pace: one call every 5 minutes.
    static let slowestRate = 1.0 / 300
    /// At or above this rate (calls per second) the device is no longer paced.
    static let unpacedRate = 10.0
    /// Calls per second added by each delivered call: one call an hour.
    static let increasePerCall = 1.0 / 3600
    /// The share of its rate a delivered call adds.
    static let growthPerCall = 1.0 / 32
    /// The rate a first 429 starts from when too few calls were made to measure one.
    static let unmeasuredRate = 1.0
    /// How many recent call starts the sending rate is measured over.
    static let measuredCalls = 8

    let widest: Int
    private(set) var width: Int
    /// Calls per second allowed; nil while not paced.
    private(set) var rate: Double?
    /// When the last call started.
    private(set) var lastSend: Duration?
    /// When the last 429 slowed the device down.
    private(set) var lastDecrease: Duration?
    private var recentSends: [Duration] = []

    init(concurrency: Int) {
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
        if let lastDecrease, sentAt < lastDecrease { return false }
        width = max(1, width / 2)
        let from = rate ?? min(measuredRate ?? 2 * Self.unmeasuredRate, Self.unpacedRate)
        rate = max(Self.slowestRate, from / 2)
        lastDecrease = now
        return true
    }

    /// A call was delivered.
    mutating func delivered() {
        width = min(widest, width + 1)
        guard let current = rate else { return }
        let grown = current + Self.increasePerCall + current * Self.growthPerCall
        rate = grown >= Self.unpacedRate ? nil : grown
    }

    /// A retryable failure other than a 429: one call at a time until a call gets through.
    mutating func failed() { width = 1 }
}
