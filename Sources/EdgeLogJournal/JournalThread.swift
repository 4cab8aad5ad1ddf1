import CSystemd
import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// A dedicated thread for blocking sd-journal work, and the hand-over of what it reads to an async task.
///
/// The thread puts events into a queue of `capacity` (it blocks while the queue is full: backpressure reaches
/// the journal reader without blocking the Swift cooperative pool); the task takes them with `next()`.
/// `stop()` (also called when the waiting task is cancelled) unblocks both sides and rings `wakeFD`, an eventfd
/// the thread polls beside the journal's fd, so stopping is immediate.
final class JournalThread: @unchecked Sendable {
    // All mutable state is guarded by `mutex`.
    enum Event: Sendable {
        case chunk(RecordChunk)
        /// The reader reached the end of the journal (once mode) or gave up.
        case end
    }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let roomForMore: UnsafeMutablePointer<pthread_cond_t>
    private let capacity: Int
    private var queue: [Event] = []
    private var waiter: CheckedContinuation<Event?, Never>?
    private var joiner: CheckedContinuation<Void, Never>?
    private var stopped = false
    private var finished = false
    /// Readable when a stop was requested.
    let wakeFD: Int32

    init(capacity: Int = 1) throws(SystemError) {
        let fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard fd >= 0 else { throw SystemError("eventfd", errno: errno) }
        wakeFD = fd
        self.capacity = capacity
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        roomForMore = .allocate(capacity: 1)
        roomForMore.initialize(to: pthread_cond_t())
        pthread_cond_init(roomForMore, nil)
    }

    deinit {
        close(wakeFD)
        pthread_cond_destroy(roomForMore)
        roomForMore.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Starts the thread running `body`; the thread is finished when `body` returns.
    func start(_ body: @escaping @Sendable (JournalThread) -> Void) throws(SystemError) {
        final class Start {
            let thread: JournalThread
            let body: @Sendable (JournalThread) -> Void
            init(_ thread: JournalThread, _ body: @escaping @Sendable (JournalThread) -> Void) {
                self.thread = thread
                self.body = body
            }
        }
        let context = Unmanaged.passRetained(Start(self, body)).toOpaque()
        var id = pthread_t()
        let result = pthread_create(
            &id, nil,
            { raw in
                let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
                start.body(start.thread)
                start.thread.markFinished()
                return nil
            }, context)
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(context).release()
            throw SystemError("pthread_create", errno: result)
        }
        pthread_detach(id)
    }

    // MARK: the reader thread's side

    var isStopped: Bool { locked { stopped } }

    /// Hands an event to the task, blocking while the queue is full. False once stopped (the event is dropped).
    @discardableResult
    func put(_ event: Event) -> Bool {
        pthread_mutex_lock(mutex)
        while !stopped && waiter == nil && queue.count >= capacity { pthread_cond_wait(roomForMore, mutex) }
        if stopped {
            pthread_mutex_unlock(mutex)
            return false
        }
        if let waiter {
            self.waiter = nil
            pthread_mutex_unlock(mutex)
            waiter.resume(returning: event)
        } else {
            queue.append(event)
            pthread_mutex_unlock(mutex)
        }
        return true
    }

    /// Waits up to `milliseconds` for a stop request. True if stopped.
    func sleep(milliseconds: Int32) -> Bool {
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, milliseconds)
        return isStopped
    }

    private func markFinished() {
        let joiner = locked { () -> CheckedContinuation<Void, Never>? in
            finished = true
            defer { self.joiner = nil }
            return self.joiner
        }
        joiner?.resume()
    }

    // MARK: the task's side

    /// The next event; nil once stopped (or the task is cancelled, which stops the thread).
    func next() async -> Event? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Event?, Never>) in
                pthread_mutex_lock(mutex)
                if !queue.isEmpty {
                    let event = queue.removeFirst()
                    pthread_cond_signal(roomForMore)
                    pthread_mutex_unlock(mutex)
                    continuation.resume(returning: event)
                } else if stopped {
                    pthread_mutex_unlock(mutex)
                    continuation.resume(returning: nil)
                } else {
                    waiter = continuation
                    pthread_cond_signal(roomForMore)
                    pthread_mutex_unlock(mutex)
                }
            }
        } onCancel: {
            stop()
        }
    }

    /// Asks the thread to stop: wakes its poll and any blocked `put`, and ends a pending `next()` with nil.
    func stop() {
        let waiter = locked { () -> CheckedContinuation<Event?, Never>? in
            stopped = true
            queue.removeAll()
            pthread_cond_broadcast(roomForMore)
            defer { self.waiter = nil }
            return self.waiter
        }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
        waiter?.resume(returning: nil)
    }

    /// Returns once the thread has finished (after `stop()`, promptly).
    func join() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            pthread_mutex_lock(mutex)
            if finished {
                pthread_mutex_unlock(mutex)
                continuation.resume()
            } else {
                joiner = continuation
                pthread_mutex_unlock(mutex)
            }
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }
}
