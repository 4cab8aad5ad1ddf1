import EdgeLogCore
import Logging
import Synchronization

/// Runs the pipeline and swaps it for a new one when the configuration changes, without a process restart:
/// the old pipeline stops reading, spools and commits everything it read, and the new one starts from those
/// checkpoints and delivers what is spooled. Nothing is lost or read twice.
public final class Supervisor: Sendable {
    public let environment: [String: String]
    /// Process-wide counters, shared by every pipeline it runs.
    public let counters: Counters
    let logger: Logger
    private let makeApplication: @Sendable (Configuration) -> Application

    private struct State {
        var configuration: Configuration
        var pipeline: Pipeline?
        var stopping = false
        var generation = 0
        var observers: [Int: AsyncStream<Configuration>.Continuation] = [:]
        var nextObserver = 0
    }
    private let state: Mutex<State>
    private let changes: AsyncStream<Void>
    private let changed: AsyncStream<Void>.Continuation

    public convenience init(configuration: Configuration, environment: [String: String], logger: Logger) {
        self.init(application: Application(configuration: configuration, environment: environment, logger: logger))
    }

    /// Pipelines for later configurations share `application`'s coordinator and counters.
    public init(application: Application) {
        environment = application.environment
        counters = application.counters
        logger = application.logger
        state = Mutex(State(configuration: application.configuration))
        makeApplication = {
            Application(
                configuration: $0, environment: application.environment, logger: application.logger,
                coordinator: application.coordinator, counters: application.counters)
        }
        (changes, changed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The configuration in force.
    public var configuration: Configuration { state.withLock { $0.configuration } }
    /// Bumped at every applied change (for reports).
    public var generation: Int { state.withLock { $0.generation } }
    /// The running pipeline, if any (for health and flush).
    public var pipeline: Pipeline? { state.withLock { $0.pipeline } }

    /// The configuration in force now, then every applied change (the latest only, if the reader is slower).
    /// Ends when the reading task is cancelled.
    public func configurationUpdates() -> AsyncStream<Configuration> {
        let (stream, continuation) = AsyncStream.makeStream(of: Configuration.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { s in
            s.nextObserver += 1
            s.observers[s.nextObserver] = continuation
            continuation.yield(s.configuration)
            return s.nextObserver
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.observers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Whether going from `a` to `b` needs a new pipeline: any change but one confined to the `metrics`
    /// section (the metrics service follows that one by itself).
    static func needsNewPipeline(_ a: Configuration, _ b: Configuration) -> Bool {
        var a = a
        a.metrics = b.metrics
        a.twin = b.twin
        return a != b
    }

    /// Checks a new configuration and, if it can be applied live, swaps the pipeline. Returns the problems
    /// (empty: applied); with problems the configuration in force stays.
    public func apply(_ new: Configuration) -> [Diagnostic] {
        let current = configuration
        if new.stateDirectory != current.stateDirectory {
            return [
                Diagnostic(
                    path: "stateDirectory", problem: "cannot change while running (it holds the checkpoints and the spool)",
                    fix: "keep \"\(current.stateDirectory)\", or change it in the config file and restart the module")
            ]
        }
        guard new != current else { return [] }
        let (pipeline, observers) = state.withLock { s -> (Pipeline?, [AsyncStream<Configuration>.Continuation]) in
            s.configuration = new
            s.generation += 1
            return (s.pipeline, Array(s.observers.values))
        }
        for observer in observers { observer.yield(new) }
        guard Self.needsNewPipeline(current, new) else {
            logger.info("configuration changed (metrics or twin settings only); the pipeline keeps running")
            return []
        }
        logger.info("configuration changed; restarting the pipeline with it")
        pipeline?.shutdown(deliver: false)
        changed.yield()
        return []
    }

    /// Stops for good (SIGTERM): the running pipeline delivers within its grace period.
    public func shutdown() {
        let pipeline = state.withLock { s -> Pipeline? in
            s.stopping = true
            return s.pipeline
        }
        pipeline?.shutdown()
        changed.yield()
    }

    /// Runs pipelines until `shutdown()`.
    public func run() async throws {
        var wakeups = changes.makeAsyncIterator()
        while true {
            let (configuration, stopping) = state.withLock { ($0.configuration, $0.stopping) }
            if stopping { return }
            let pipeline = try makeApplication(configuration).makePipeline()
            let stillCurrent = state.withLock { s -> Bool in
                guard !Self.needsNewPipeline(s.configuration, configuration) && !s.stopping else { return false }
                s.pipeline = pipeline
                return true
            }
            if !stillCurrent { continue }
            _ = try await pipeline.run(mode: .follow)
            state.withLock { $0.pipeline = nil }
            // Either a change (loop with the new configuration) or a stop; drain the doorbell.
            _ = state.withLock { $0.stopping } ? nil : await wakeups.next()
        }
    }
}
