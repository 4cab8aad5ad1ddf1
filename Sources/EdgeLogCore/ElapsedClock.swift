/// Time from an injected `Clock`, as durations since this value was made, so state machines and caches deal in
/// plain `Duration`s whatever the clock: `ContinuousClock` in production, a manual clock in tests. Used by the
/// sink driver, the Entra token provider and the twin.
public struct ElapsedClock: Sendable {
    /// Time since this value was made.
    public let now: @Sendable () -> Duration
    /// Sleeps until `now()` reaches the given value; throws `CancellationError` when the task is cancelled.
    public let sleepUntil: @Sendable (Duration) async throws -> Void

    public init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        now = { origin.duration(to: clock.now) }
        sleepUntil = { wake in try await clock.sleep(until: origin.advanced(by: wake), tolerance: nil) }
    }

    /// The continuous clock (time passes while the system sleeps).
    public static var continuous: ElapsedClock { ElapsedClock(ContinuousClock()) }

    public func sleep(for duration: Duration) async throws { try await sleepUntil(now() + duration) }
}
