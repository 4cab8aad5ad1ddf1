/// Exponential backoff with full jitter, capped: 1 s doubling to 5 min by default. Each delay is a uniformly
/// random point between zero and the current ceiling (`initial * 2^attempt`, at most `maximum`), so that many
/// devices failing at the same moment (an outage of the service they share) do not retry in lockstep.
public struct Backoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    private var attempt = 0

    public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(300)) {
        self.initial = initial
        self.maximum = maximum
    }

    public mutating func reset() { attempt = 0 }

    /// The ceiling the next delay is drawn under.
    public var ceiling: Duration { min(maximum, initial * (1 << min(attempt, 30))) }

    /// The next delay: a uniformly random point in `0...ceiling` (full jitter); the ceiling doubles each time.
    public mutating func next<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
        let top = ceiling
        attempt += 1
        return Jitter.upTo(top, using: &generator)
    }

    public mutating func next() -> Duration {
        var g = SystemRandomNumberGenerator()
        return next(using: &g)
    }
}

/// Random delays on a millisecond grid.
public enum Jitter {
    /// A uniformly random duration in `0...bound` (whole milliseconds; zero for a bound under 1 ms).
    public static func upTo<G: RandomNumberGenerator>(_ bound: Duration, using generator: inout G) -> Duration {
        let ms = max(0, bound.inMilliseconds)
        return .milliseconds(Int64.random(in: 0...ms, using: &generator))
    }
}

/// A small seedable generator (SplitMix64): reproducible jitter in tests, seeded from the system otherwise.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// Seeded from the system's generator.
    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Duration {
    /// Whole milliseconds (rounded down).
    var inMilliseconds: Int64 {
        let (seconds, atto) = components
        return seconds * 1000 + atto / 1_000_000_000_000_000
    }

    /// Seconds as a Double.
    var inSeconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    /// A duration of `seconds` (a Double), to the nanosecond.
    static func fromSeconds(_ seconds: Double) -> Duration {
        .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
