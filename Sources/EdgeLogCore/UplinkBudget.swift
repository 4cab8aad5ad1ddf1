/// `sink.maxBytesPerSecond`: a cap on the compressed bytes sent, across calls. A call may start once the bytes of
/// the calls before it are paid for at the rate; it then goes out whole (a call is never cut), and its bytes push
/// the next start back. Idle time earns no credit, so the average rate from any call's start never exceeds the cap:
/// N bytes sent in any number of calls take N / rate seconds before the next call may start.
struct UplinkBudget: Equatable {
    /// Bytes per second; 0: no cap.
    let bytesPerSecond: Int
    /// `bytes` are paid for at `anchor + bytes / bytesPerSecond`; kept under one second's worth so the arithmetic is
    /// exact and cannot overflow.
    private var anchor: Duration = .zero
    private var bytes = 0

    init(bytesPerSecond: Int) { self.bytesPerSecond = max(0, bytesPerSecond) }

    /// When the bytes sent so far are paid for (the earliest start of the next call); nil without a cap.
    var freeAt: Duration? {
        guard bytesPerSecond > 0 else { return nil }
        return anchor + .nanoseconds(Int64(bytes) * 1_000_000_000 / Int64(bytesPerSecond))
    }

    /// A call of `count` bytes started at `now`.
    mutating func sent(_ count: Int, at now: Duration) {
        guard bytesPerSecond > 0, let free = freeAt else { return }
        if now >= free {
            anchor = now
            bytes = 0
        }
        bytes += max(0, count)
        let whole = bytes / bytesPerSecond
        anchor += .seconds(whole)
        bytes -= whole * bytesPerSecond
    }
}
