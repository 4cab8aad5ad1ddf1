import Synchronization

/// The rate limits' clock in the tests (nanoseconds since the Unix epoch): moves only when a test moves it.
public final class FilterClock: Sendable {
    private let value = Mutex<UInt64>(1_795_802_700_000_000_000)  // 2026-11-27T18:05:00Z
    public init() {}
    public var nanos: UInt64 { value.withLock { $0 } }
    public func advance(seconds: UInt64) { value.withLock { $0 += seconds * 1_000_000_000 } }
}
