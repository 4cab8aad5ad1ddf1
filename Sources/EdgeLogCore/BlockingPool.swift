import Dispatch
import DequeModule
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one place blocking I/O and long CPU-heavy work runs: the spool's and the checkpoint file's fsyncs,
/// rotation's copies, compression and scans, the file sink's writes, and the metrics scrape (its `lstat`s). A
/// batch's compression (bounded, a core's worth of work) stays on the task that needs it (docs/architecture.md).
/// None of it may hold a thread of Swift's cooperative pool (as many threads as cores: two on a Raspberry Pi, shared
/// by every source, the batcher and the uploader) or an event loop (the MQTT client, the metrics server).
///
/// A fixed number of jobs run at once (`width`, at least 4 and at least the number of cores: an fsync waits on
/// the disk without using a core, so a core-sized pool would idle the CPU during fsyncs), in submission order, on
/// Dispatch's worker threads; the rest wait in a FIFO. A `Lane` runs its jobs one at a time, in order, on the
/// pool (the checkpoint committer's writes).
///
/// The journal reader is the one exception: sd-journal handles belong to one thread, so it keeps its own.
public final class BlockingPool: Sendable {
    /// The process's pool.
    public static let shared = BlockingPool(width: max(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

    public typealias Job = @Sendable () -> Void

    private struct State {
        var jobs = Deque<Job>()
        var running = 0
    }

    public let width: Int
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "edgelog.blocking", qos: .utility, attributes: .concurrent)

    public init(width: Int) {
        self.width = max(1, width)
    }

    /// Runs `job` on the pool (fire and forget; the job reports its own result).
    public func submit(_ job: @escaping Job) {
        let start = state.withLock { s -> Bool in
            s.jobs.append(job)
            guard s.running < width else { return false }
            s.running += 1
            return true
        }
        if start { queue.async { self.drain() } }
    }

    private func drain() {
        while let job = state.withLock({ s -> Job? in
            if let job = s.jobs.popFirst() { return job }
            s.running -= 1
            return nil
        }) {
            job()
        }
    }

    /// Runs `body` on the pool and returns its result to the awaiting task.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: body()) }
        }
    }

    /// Runs a throwing `body` on the pool.
    public func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await run { () -> Result<T, E> in
            do throws(E) {
                return .success(try body())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// `shared.run(body)`.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await shared.run(body)
    }

    /// `shared.run(body)`, throwing.
    public static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        try await shared.run(body)
    }

    /// Jobs run one at a time, in the order given, on the pool: for writes that must land in order (the
    /// checkpoint file).
    public final class Lane: Sendable {
        private struct State {
            var jobs = Deque<Job>()
            var scheduled = false
        }

        private let pool: BlockingPool
        private let state = Mutex(State())

        public init(pool: BlockingPool = .shared) {
            self.pool = pool
        }

        /// Runs `job` after every job submitted to this lane before it.
        public func submit(_ job: @escaping Job) {
            let schedule = state.withLock { s -> Bool in
                s.jobs.append(job)
                if s.scheduled { return false }
                s.scheduled = true
                return true
            }
            if schedule { pool.submit { self.drain() } }
        }

        /// One job, then back to the pool's queue (a busy lane does not starve the pool's other work).
        private func drain() {
            let job = state.withLock { $0.jobs.popFirst() }
            job?()
            let more = state.withLock { s -> Bool in
                if s.jobs.isEmpty {
                    s.scheduled = false
                    return false
                }
                return true
            }
            if more { pool.submit { self.drain() } }
        }

        /// Runs `body` after every job submitted to this lane before it, and returns its result.
        public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
            await withCheckedContinuation { continuation in
                submit { continuation.resume(returning: body()) }
            }
        }
    }
}
