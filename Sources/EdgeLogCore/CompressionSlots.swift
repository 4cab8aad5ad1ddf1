import DequeModule
import Synchronization

/// How many batches the writer compresses at once: a slot is taken before a batch leaves the batcher and given
/// back as soon as the batch is compressed, so the uncompressed megabytes held by the writer are bounded by the
/// slots, while the spool writes (fsync) and the admissions of compressed batches go on beside them.
final class CompressionSlots: Sendable {
    private struct State {
        var free: Int
        var waiters = Deque<CheckedContinuation<Void, Never>>()
    }
    private let state: Mutex<State>

    init(_ count: Int) { state = Mutex(State(free: max(1, count))) }

    /// Waits for a free slot and takes it.
    func acquire() async {
        let taken = state.withLock { s -> Bool in
            guard s.free > 0 else { return false }
            s.free -= 1
            return true
        }
        if taken { return }
        await withCheckedContinuation { continuation in
            let now = state.withLock { s -> Bool in
                if s.free > 0 {
                    s.free -= 1
                    return true
                }
                s.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Gives a slot back (to the longest waiter, if any).
    func release() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let first = s.waiters.popFirst() { return first }
            s.free += 1
            return nil
        }
        waiter?.resume()
    }

    /// Free slots (tests).
    var available: Int { state.withLock { $0.free } }
}
