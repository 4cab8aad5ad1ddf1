import EdgeLogCore
import EdgeLogRotation
import Logging
import Synchronization

/// Runs the pipeline and swaps it for a new one when the configuration changes, without a process restart:
/// the old pipeline stops reading, spools and commits everything it read, and the new one starts from those
/// checkpoints and delivers what is spooled. Nothing is lost or read twice.
///
/// A configuration is applied only once everything it needs is built: the sink (secrets, CA file, proxy), the
/// sources, the rotation check and every `ConfigurationStage` (the metrics listener). Until then the one in
/// force keeps running; if it cannot be built, it is refused with the reasons and tried again with backoff
/// (a secret file may be mounted later, a port freed). The last configuration that ran well is kept in the
/// state directory (`LastGoodConfiguration`): if the one the process starts with cannot be applied, that one
/// runs instead. Nothing here ends the process: a pipeline that cannot start or stops with an error is
/// started again with backoff, and `/healthz` says why nothing runs meanwhile.
public final class Supervisor: Sendable {
    public let environment: [String: String]
    /// Process-wide counters, shared by every pipeline it runs.
    public let counters: Counters
    let logger: Logger
    private let makeApplication: @Sendable (Configuration) -> Application
    /// What the process was started with: the twin's desired properties merge over its document.
    public let startupConfiguration: Configuration
    /// Problems of the config file when it was invalid and `startupConfiguration` is the last good one instead.
    private let fileProblems: [Diagnostic]
    /// Retries of a configuration that could not be built, and restarts of a failed pipeline: from `initial`,
    /// doubling, at most `maximum`.
    private let retryInitial: Duration
    private let retryMaximum: Duration
    /// As an IoT Edge module, the configuration comes from the twin: with no configuration the twin gave saved,
    /// the first pipeline waits this long for the twin's desired properties before the startup configuration
    /// runs (nil: standalone, the startup configuration runs at once).
    private let twinWait: Duration?

    /// The configuration in force and where it came from.
    public struct InForce: Sendable {
        public let configuration: Configuration
        public let origin: ConfigurationOrigin
        /// Restored from the state directory because the newer configuration could not be applied.
        public let lastGood: Bool
        /// When it took effect (Unix milliseconds).
        public let sinceMillis: Int64
    }

    /// The newest configuration asked for that could not be applied, retried until it is, or until a newer
    /// one replaces it.
    public struct Pending: Sendable {
        public let configuration: Configuration
        public let origin: ConfigurationOrigin
        public let problems: [Diagnostic]
        /// Tries so far.
        public let attempts: Int
        /// When it was first refused (Unix milliseconds).
        public let sinceMillis: Int64
        /// The next try; nil if it is not tried again (it cannot change while EdgeLog runs, e.g. an invalid file).
        public let nextAttempt: ContinuousClock.Instant?
    }

    private struct State {
        /// What was asked for last (in force, or pending); stands in for the configuration in force until one is.
        var wanted: Configuration
        var inForce: InForce?
        var pending: Pending?
        /// Parts built by `apply` for the next pipeline.
        var prepared: PreparedPipeline?
        var pipeline: Pipeline?
        /// Why no pipeline runs although a configuration is in force.
        var pipelineProblem: String?
        var stopping = false
        var generation = 0
        var observers: [Int: AsyncStream<Configuration>.Continuation] = [:]
        var nextObserver = 0
        var stages: [ObjectIdentifier: any ConfigurationStage] = [:]
        var savedLastGood: Configuration?
        /// Until when the start waits for the twin's first desired properties (nil: not waiting).
        var awaitingTwinUntil: ContinuousClock.Instant?
        /// The twin's desired properties were handled at least once (applied or refused).
        var twinAnswered = false
    }
    private let state: Mutex<State>
    /// One apply at a time (the twin's, the retries', the start's).
    private let applying = AsyncSerial()
    /// Rung when the pipeline loop has something to do (a new configuration in force, a stop).
    private let changed = Doorbell()
    /// Rung when a configuration becomes pending.
    private let retryBell = Doorbell()
    /// Rung when the twin's desired properties have been handled (applied or refused).
    private let twinBell = Doorbell()

    public convenience init(configuration: Configuration, environment: [String: String], logger: Logger) {
        self.init(application: Application(configuration: configuration, environment: environment, logger: logger))
    }

    /// Pipelines for later configurations share `application`'s coordinator and counters.
    /// - Parameters:
    ///   - fileProblems: the config file was invalid and `application.configuration` is the last good one
    ///     instead: these are the file's problems, reported as its pending configuration.
    ///   - retryInitial, retryMaximum: the backoff of retries and pipeline restarts.
    ///   - twinWait: as a module, how long the first pipeline waits for the twin's desired properties when no
    ///     configuration the twin gave is saved (`twin.startupWaitSeconds`); nil standalone.
    public init(
        application: Application, fileProblems: [Diagnostic] = [], retryInitial: Duration = .seconds(5),
        retryMaximum: Duration = .seconds(300), twinWait: Duration? = nil
    ) {
        self.twinWait = twinWait
        environment = application.environment
        counters = application.counters
        logger = application.logger
        startupConfiguration = application.configuration
        self.fileProblems = fileProblems
        self.retryInitial = retryInitial
        self.retryMaximum = max(retryInitial, retryMaximum)
        state = Mutex(State(wanted: application.configuration))
        makeApplication = {
            Application(
                configuration: $0, environment: application.environment, logger: application.logger,
                coordinator: application.coordinator, counters: application.counters)
        }
    }

    /// The configuration in force; until one could be applied, the one asked for.
    public var configuration: Configuration { state.withLock { $0.inForce?.configuration ?? $0.wanted } }
    /// The configuration in force, nil until one could be applied.
    public var inForce: InForce? { state.withLock { $0.inForce } }
    /// The newest configuration asked for that could not be applied (retried), if any.
    public var pending: Pending? { state.withLock { $0.pending } }
    /// Bumped at every applied change (for reports).
    public var generation: Int { state.withLock { $0.generation } }
    /// The running pipeline, if any (for health and flush).
    public var pipeline: Pipeline? { state.withLock { $0.pipeline } }

    /// Why no pipeline runs, when that is not a passing moment (a configuration that cannot be applied, a
    /// pipeline that cannot start); nil otherwise.
    public var notRunningReason: String? {
        state.withLock { s in
            if s.pipeline != nil { return nil }
            if let problem = s.pipelineProblem { return problem }
            if s.awaitingTwinUntil != nil, s.inForce == nil {
                return "waiting for the module twin's desired properties before the first pipeline starts"
            }
            if s.inForce == nil, let pending = s.pending {
                return "no configuration could be applied (\(pending.origin): "
                    + pending.problems.prefix(3).map(\.description).joined(separator: "; ") + "); retrying"
            }
            return nil
        }
    }

    /// The configuration in force now, then every applied change (the latest only, if the reader is slower).
    /// Ends when the reading task is cancelled.
    public func configurationUpdates() -> AsyncStream<Configuration> {
        let (stream, continuation) = AsyncStream.makeStream(of: Configuration.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { s in
            s.nextObserver += 1
            s.observers[s.nextObserver] = continuation
            continuation.yield(s.inForce?.configuration ?? s.wanted)
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

    // MARK: Stages

    /// Makes `stage` part of every later apply, and brings it to the configuration in force now (if one is).
    public func attach(_ stage: any ConfigurationStage) async {
        await applying.run {
            let (fresh, current) = state.withLock { s -> (Bool, Configuration?) in
                let fresh = s.stages.updateValue(stage, forKey: ObjectIdentifier(stage)) == nil
                return (fresh, s.inForce?.configuration ?? (s.pending != nil ? s.wanted : nil))
            }
            guard fresh, let current else { return }
            // It serves what runs; its own failure here (a port in use) is its to retry, nothing is refused.
            let problems = await stage.prepare(current)
            await stage.finish(applied: problems.isEmpty)
        }
    }

    public func detach(_ stage: any ConfigurationStage) {
        _ = state.withLock { $0.stages.removeValue(forKey: ObjectIdentifier(stage)) }
    }

    // MARK: Applying

    /// Builds everything `new` needs and, if all of it could be built, makes it the configuration in force
    /// (swapping the pipeline when more than the `metrics`/`twin` sections changed). Returns the problems
    /// (empty: applied); with problems the configuration in force stays, and a configuration that failed to
    /// build (not one that can never apply, such as a new `stateDirectory`) is retried with backoff until it
    /// applies or a newer one is asked for.
    public func apply(_ new: Configuration, origin: ConfigurationOrigin = .file) async -> [Diagnostic] {
        await applying.run { await applyNow(new, origin: origin, asLastGood: false) }
    }

    /// The twin's desired properties were handled (applied, refused, or invalid as a document): a start waiting
    /// for them goes on.
    public func twinAnswered() {
        state.withLock { $0.twinAnswered = true }
        twinBell.ring()
    }

    /// A newer configuration was asked for and is invalid as a document: the older pending one is not what is
    /// wanted any more, so it is not retried.
    public func discardPending() {
        state.withLock { $0.pending = nil }
    }

    private func applyNow(_ new: Configuration, origin: ConfigurationOrigin, asLastGood: Bool) async -> [Diagnostic] {
        let current = state.withLock { $0.inForce }
        if let current, new.stateDirectory != current.configuration.stateDirectory {
            let problem = Diagnostic(
                path: "stateDirectory", problem: "cannot change while running (it holds the checkpoints and the spool)",
                fix: "keep \"\(current.configuration.stateDirectory)\", or change it in the config file and restart the module")
            if !asLastGood { refuse(new, origin: origin, problems: [problem], retry: false) }
            return [problem]
        }
        if let current, current.configuration == new {
            state.withLock { s in
                s.inForce = InForce(
                    configuration: new, origin: origin, lastGood: asLastGood, sinceMillis: current.sinceMillis)
                if !asLastGood { s.pending = nil }
            }
            return []
        }

        // Build everything first; the configuration in force keeps running meanwhile.
        var problems: [Diagnostic] = []
        let needsPipeline = current.map { Self.needsNewPipeline($0.configuration, new) } ?? true
        var prepared: PreparedPipeline?
        if needsPipeline {
            do { prepared = try makeApplication(new).prepare() } catch { problems.append(Self.diagnostic(error)) }
        }
        if problems.isEmpty { problems += Self.rotationProblems(new) }
        var ready: [any ConfigurationStage] = []
        if problems.isEmpty {
            for stage in state.withLock({ Array($0.stages.values) }) {
                let refused = await stage.prepare(new)
                if !refused.isEmpty {
                    problems += refused
                    break
                }
                ready.append(stage)
            }
        }
        if !problems.isEmpty {
            for stage in ready { await stage.finish(applied: false) }
            if !asLastGood { refuse(new, origin: origin, problems: problems, retry: true) }
            return problems
        }

        // Commit.
        let now = FileSystem.nowMillis()
        let (pipeline, observers) = state.withLock { s -> (Pipeline?, [AsyncStream<Configuration>.Continuation]) in
            s.inForce = InForce(configuration: new, origin: origin, lastGood: asLastGood, sinceMillis: now)
            s.wanted = new
            if !asLastGood { s.pending = nil }
            if current != nil { s.generation += 1 }
            if needsPipeline { s.prepared = prepared }
            return (s.pipeline, Array(s.observers.values))
        }
        for stage in ready { await stage.finish(applied: true) }
        for observer in observers { observer.yield(new) }
        if needsPipeline {
            if current != nil { logger.info("configuration changed (\(origin)); restarting the pipeline with it") }
            pipeline?.shutdown(deliver: false)
            changed.ring()
        } else {
            logger.info("configuration changed (\(origin)): metrics or twin settings only; the pipeline keeps running")
            if !asLastGood { saveLastGood(new, origin: origin) }
        }
        return []
    }

    /// Records `new` as pending (retried with backoff when `retry`).
    private func refuse(_ new: Configuration, origin: ConfigurationOrigin, problems: [Diagnostic], retry: Bool) {
        let pending = state.withLock { s -> Pending in
            let again = s.pending.map { $0.configuration == new && $0.origin == origin } ?? false
            let attempts = again ? s.pending!.attempts + 1 : 1
            let pending = Pending(
                configuration: new, origin: origin, problems: problems, attempts: attempts,
                sinceMillis: again ? s.pending!.sinceMillis : FileSystem.nowMillis(),
                nextAttempt: retry ? ContinuousClock.now + backoff(attempts) : nil)
            s.pending = pending
            s.wanted = new
            return pending
        }
        let reasons = problems.map(\.description).joined(separator: "; ")
        if let next = pending.nextAttempt {
            logger.error(
                "the configuration from \(origin) cannot be applied (attempt \(pending.attempts)): \(reasons); the configuration in force stays, trying again in \(Self.seconds(next - ContinuousClock.now)) s"
            )
            retryBell.ring()
        } else {
            logger.error("the configuration from \(origin) cannot be applied: \(reasons); the configuration in force stays")
        }
    }

    /// `retryInitial` doubled per earlier attempt, at most `retryMaximum`.
    private func backoff(_ attempts: Int) -> Duration {
        var delay = retryInitial
        for _ in 1..<max(1, min(attempts, 30)) where delay < retryMaximum { delay = delay * 2 }
        return min(delay, retryMaximum)
    }

    /// A build error as a problem with its key: `SinkSetupError`s read `key: problem; fix`.
    static func diagnostic(_ error: any Error) -> Diagnostic {
        let text = URLRedaction.redactURLs(in: "\(error)")
        var path = "sink"
        var rest = Substring(text)
        if let colon = text.firstRange(of: ": "), !text[..<colon.lowerBound].contains(" ") {
            path = String(text[..<colon.lowerBound])
            rest = text[colon.upperBound...]
        }
        if let semicolon = rest.ranges(of: "; ").last {
            return Diagnostic(
                path: path, problem: String(rest[..<semicolon.lowerBound]), fix: String(rest[semicolon.upperBound...]))
        }
        return Diagnostic(path: path, problem: String(rest), fix: "fix the configuration or the module's environment")
    }

    /// What keeps rotation from running with `configuration`: a pattern it would refuse (outside its roots).
    static func rotationProblems(_ configuration: Configuration) -> [Diagnostic] {
        let rotation = configuration.rotation
        guard rotation.enabled else { return [] }
        let guardian = RootGuard(roots: rotation.allowedRoots(containersDirectory: configuration.docker.containersDirectory))
        var problems: [Diagnostic] = []
        for policy in RotationPolicy.resolve(rotation, containersDirectory: configuration.docker.containersDirectory) {
            for pattern in policy.patterns {
                if case .failure(let refusal) = guardian.root(of: pattern) {
                    problems.append(
                        Diagnostic(
                            path: policy.name == "rotation" ? "rotation.paths" : policy.name + ".paths",
                            problem: "\(refusal)", fix: "change the pattern or rotation.roots"))
                }
            }
        }
        return problems
    }

    private func saveLastGood(_ configuration: Configuration, origin: ConfigurationOrigin) {
        guard state.withLock({ $0.savedLastGood != configuration }) else { return }
        do {
            try LastGoodConfiguration.save(
                .init(configuration: configuration, origin: origin, savedMillis: FileSystem.nowMillis()),
                stateDirectory: configuration.stateDirectory)
            state.withLock { $0.savedLastGood = configuration }
        } catch {
            logger.warning("cannot save the configuration that runs as the last good one: \(error)")
        }
    }

    // MARK: Running

    /// Stops for good (SIGTERM): the running pipeline delivers within its grace period.
    public func shutdown() {
        let pipeline = state.withLock { s -> Pipeline? in
            s.stopping = true
            return s.pipeline
        }
        pipeline?.shutdown()
        changed.ring()
        twinBell.ring()
    }

    /// Applies the startup configuration (or the last good one), then runs pipelines until `shutdown()`,
    /// retrying a pending configuration meanwhile. Never throws for a configuration or pipeline error.
    public func run() async throws {
        await start()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.retryPending() }
            await runPipelines()
            group.cancelAll()
        }
    }

    /// The startup configuration; if it cannot be applied, the last good one from the state directory. As a
    /// module, the twin's configuration first: the last one it gave (saved) at once, else its desired properties
    /// once they arrive; the startup configuration only if the twin does not answer within `twinWait` or its
    /// document is refused. Records are read only once a configuration runs, so nothing read goes to the wrong sink.
    private func start() async {
        if let twinWait, fileProblems.isEmpty {
            if await startFromTwin(waiting: twinWait) { return }
        }
        await applying.run {
            let startup = startupConfiguration
            if !fileProblems.isEmpty {
                // The file was invalid; `startup` is the last good configuration read for it.
                let saved = try? LastGoodConfiguration.load(stateDirectory: startup.stateDirectory)
                let problems = await applyNow(startup, origin: saved?.origin ?? .file, asLastGood: true)
                state.withLock { s in
                    s.savedLastGood = startup
                    s.pending = Pending(
                        configuration: startup, origin: .file, problems: fileProblems, attempts: 1,
                        sinceMillis: FileSystem.nowMillis(), nextAttempt: nil)
                }
                if !problems.isEmpty { await serveWithoutConfiguration(startup, problems) }
                return
            }
            let problems = await applyNow(startup, origin: .file, asLastGood: false)
            guard !problems.isEmpty else { return }
            let saved: LastGoodConfiguration.Saved?
            do {
                saved = try LastGoodConfiguration.load(stateDirectory: startup.stateDirectory)
            } catch {
                logger.error("the last good configuration is not usable: \(error)")
                saved = nil
            }
            guard let saved, saved.configuration != startup else {
                await serveWithoutConfiguration(startup, problems)
                return
            }
            let fallback = await applyNow(saved.configuration, origin: saved.origin, asLastGood: true)
            if fallback.isEmpty {
                state.withLock { $0.savedLastGood = saved.configuration }
                logger.warning(
                    "running the last configuration that ran well (\(saved.origin), saved at \(Self.time(saved.savedMillis))) until the configuration from the config file can be applied"
                )
            } else {
                logger.error(
                    "the last good configuration cannot be applied either: \(fallback.map(\.description).joined(separator: "; "))")
                await serveWithoutConfiguration(startup, problems)
            }
        }
    }

    /// As a module: runs the last configuration the twin gave, or waits for the twin's desired properties. True if
    /// a configuration is in force at the end (the twin's); false if the startup configuration should run.
    private func startFromTwin(waiting: Duration) async -> Bool {
        let stateDirectory = startupConfiguration.stateDirectory
        if let saved = try? LastGoodConfiguration.load(stateDirectory: stateDirectory), case .desired = saved.origin {
            let problems = await applying.run { await applyNow(saved.configuration, origin: saved.origin, asLastGood: true) }
            if problems.isEmpty {
                state.withLock { $0.savedLastGood = saved.configuration }
                logger.info(
                    "running the configuration the module twin gave last (\(saved.origin), saved at \(Self.time(saved.savedMillis))) until the twin answers"
                )
                return true
            }
            logger.warning(
                "the configuration the module twin gave last cannot be applied: \(problems.map(\.description).joined(separator: "; "))")
        }
        let deadline = ContinuousClock.now + waiting
        state.withLock { $0.awaitingTwinUntil = deadline }
        defer { state.withLock { $0.awaitingTwinUntil = nil } }
        // The metrics listener serves meanwhile, so `/healthz` says what is awaited.
        for stage in state.withLock({ Array($0.stages.values) }) {
            let refused = await stage.prepare(startupConfiguration)
            await stage.finish(applied: refused.isEmpty)
        }
        logger.info(
            "waiting up to \(Self.seconds(waiting)) s for the module twin's desired properties before reading any log")
        while true {
            let (answered, running, stopping) = state.withLock { ($0.twinAnswered, $0.inForce != nil, $0.stopping) }
            if running { return true }
            if stopping || Task.isCancelled { return true }
            if answered {
                // Refused: the startup configuration runs meanwhile, and the twin's stays pending (retried).
                logger.warning("the module twin's desired properties were refused; running the startup configuration meanwhile")
                let problems = await applying.run {
                    await applyNow(startupConfiguration, origin: .file, asLastGood: true)
                }
                if problems.isEmpty { return true }
                await serveWithoutConfiguration(startupConfiguration, problems)
                return true
            }
            if ContinuousClock.now >= deadline {
                logger.warning(
                    "the module twin did not answer within \(Self.seconds(waiting)) s (twin.startupWaitSeconds); running the startup configuration until it does"
                )
                return false
            }
            await twinBell.wait(until: deadline)
        }
    }

    /// Nothing could be applied: the stages (the metrics listener) still serve `wanted`, so `/healthz` can say why.
    private func serveWithoutConfiguration(_ wanted: Configuration, _ problems: [Diagnostic]) async {
        logger.error("no configuration runs; trying again until one can be applied (see /healthz and the twin)")
        for stage in state.withLock({ Array($0.stages.values) }) {
            let refused = await stage.prepare(wanted)
            await stage.finish(applied: refused.isEmpty)
        }
    }

    /// Tries the pending configuration again when its time comes.
    private func retryPending() async {
        while !Task.isCancelled {
            let next = state.withLock { $0.pending?.nextAttempt }
            guard let next else {
                await retryBell.wait()
                continue
            }
            if next > ContinuousClock.now {
                await retryBell.wait(until: next)
                continue
            }
            await applying.run {
                guard let pending = state.withLock({ $0.pending }), let at = pending.nextAttempt, at <= ContinuousClock.now else { return }
                if await applyNow(pending.configuration, origin: pending.origin, asLastGood: false).isEmpty {
                    logger.info(
                        "the configuration from \(pending.origin) is applied now (after \(pending.attempts) refused attempt(s))")
                }
            }
        }
    }

    private func runPipelines() async {
        var failures = 0
        while true {
            let (inForce, prepared, stopping) = state.withLock { s in
                let prepared = s.prepared
                s.prepared = nil
                return (s.inForce, prepared, s.stopping)
            }
            if stopping || Task.isCancelled { return }
            guard let inForce else {
                await changed.wait()
                continue
            }
            let configuration = inForce.configuration
            let pipeline: Pipeline
            do {
                let application = makeApplication(configuration)
                let parts = try prepared.flatMap { $0.configuration == configuration ? $0 : nil } ?? application.prepare()
                pipeline = try application.makePipeline(parts)
            } catch {
                failures += 1
                await pipelineFailed("the pipeline cannot start: \(error)", attempt: failures)
                continue
            }
            let stillCurrent = state.withLock { s -> Bool in
                guard let now = s.inForce, !Self.needsNewPipeline(now.configuration, configuration), !s.stopping else {
                    return false
                }
                s.pipeline = pipeline
                s.pipelineProblem = nil
                return true
            }
            if !stillCurrent { continue }
            if !inForce.lastGood { saveLastGood(configuration, origin: inForce.origin) }
            do {
                _ = try await pipeline.run(mode: .follow)
                failures = 0
            } catch {
                state.withLock { $0.pipeline = nil }
                failures += 1
                await pipelineFailed("the pipeline stopped: \(error)", attempt: failures)
                continue
            }
            state.withLock { $0.pipeline = nil }
            // Either a change (loop with the new configuration) or a stop.
            if !state.withLock({ $0.stopping }) { await changed.wait() }
        }
    }

    /// Logs, says why in health, and waits for the backoff (or a new configuration) before the next start.
    private func pipelineFailed(_ problem: String, attempt: Int) async {
        let delay = backoff(attempt)
        let text = URLRedaction.redactURLs(in: problem)
        logger.error("\(text); starting it again in \(Self.seconds(delay)) s")
        state.withLock { $0.pipelineProblem = text }
        await changed.wait(until: ContinuousClock.now + delay)
    }

    static func seconds(_ d: Duration) -> String {
        let (s, atto) = d.components
        let value = Double(s) + Double(atto) / 1e18
        if value == value.rounded() { return String(Int64(value)) }
        let tenths = Int64((value * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }

    static func time(_ millis: Int64) -> String { TwinHealth.rfc3339(millis: millis) }
}
