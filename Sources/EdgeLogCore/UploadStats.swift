import Synchronization

/// Calls to the upstream (the `logsIngestion` and `http` sinks): how many ended with which answer, and how long
/// they took. One lock per call, no allocation once every answer seen has its slot.
public final class UploadStats: Sendable {
    /// How one call ended.
    public enum Outcome: Hashable, Sendable, Comparable {
        /// The upstream answered with this HTTP status.
        case status(Int)
        /// No answer within `sink.timeoutSeconds`.
        case timeout
        /// No answer: the connection could not be made or broke.
        case connectionError

        /// The value of the `code` label: the status, `timeout` or `connection_error`.
        public var label: String {
            switch self {
            case .status(let code): return String(code)
            case .timeout: return "timeout"
            case .connectionError: return "connection_error"
            }
        }
    }

    /// Upper bounds, in seconds, of the latency histogram's buckets (`+Inf` comes after them).
    public static let bounds: [Double] = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    /// What has been recorded so far.
    public struct Snapshot: Sendable, Equatable {
        /// Calls by outcome, ordered by outcome (statuses first, ascending).
        public var calls: [(Outcome, Int)]
        /// The latency of those calls.
        public var latency: Histogram

        public static func == (a: Snapshot, b: Snapshot) -> Bool {
            a.latency == b.latency && a.calls.elementsEqual(b.calls, by: ==)
        }
    }

    private struct State {
        var calls: [Outcome: Int] = [:]
        var latency = Histogram(bounds: UploadStats.bounds)
    }
    private let state = Mutex(State())

    public init() {}

    /// Records one call: how it ended and how long it took.
    public func record(_ outcome: Outcome, seconds: Double) {
        state.withLock {
            $0.calls[outcome, default: 0] += 1
            $0.latency.observe(seconds)
        }
    }

    public func snapshot() -> Snapshot {
        let s = state.withLock { $0 }
        return Snapshot(calls: s.calls.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, latency: s.latency)
    }
}

/// Observations counted into buckets by upper bound, Prometheus style: `counts[i]` holds the observations in
/// (`bounds[i-1]`, `bounds[i]`], the last count those above every bound.
public struct Histogram: Sendable, Equatable {
    /// Ascending upper bounds.
    public let bounds: [Double]
    /// One count per bound plus one for `+Inf`; not cumulative.
    public private(set) var counts: [Int]
    /// The sum of every observation.
    public private(set) var sum: Double = 0
    /// How many observations.
    public private(set) var count: Int = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    public mutating func observe(_ value: Double) {
        var i = 0
        while i < bounds.count && value > bounds[i] { i += 1 }
        counts[i] += 1
        sum += value
        count += 1
    }
}
