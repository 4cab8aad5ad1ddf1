/// Exponential backoff with full jitter, capped: 1 s doubling to 5 min by default.
public struct Backoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    private var attempt = 0

    public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(300)) {
        self.initial = initial
        self.maximum = maximum
    }

    public mutating func reset() { attempt = 0 }

    /// The next delay: a random point in the upper half of `initial * 2^attempt`, at most `maximum`.
    public mutating func next<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
        let ceiling = min(maximum, initial * (1 << min(attempt, 30)))
        attempt += 1
        let ms = ceiling.components.seconds * 1000 + ceiling.components.attoseconds / 1_000_000_000_000_000
        let jittered = ms / 2 + Int64.random(in: 0...max(0, ms / 2), using: &generator)
        return .milliseconds(jittered)
    }

    public mutating func next() -> Duration {
        var g = SystemRandomNumberGenerator()
        return next(using: &g)
    }
}
