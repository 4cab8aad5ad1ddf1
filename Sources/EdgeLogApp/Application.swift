import EdgeLogCore
import EdgeLogDocker
import EdgeLogJournal
import EdgeLogRotation
import EdgeLogTwin
import Logging
import ServiceLifecycle
import Synchronization

/// The composition root: builds sources, sink and pipeline from a configuration and runs them.
public struct Application: Sendable {
    public let configuration: Configuration
    public let environment: [String: String]
    public let logger: Logger
    /// Shared by the Docker source and the rotation engine, across live reconfigurations.
    public let coordinator: DockerTruncationCoordinator
    /// Process-wide counters, shared by successive pipelines and the rotation engine.
    public let counters: Counters

    public init(
        configuration: Configuration, environment: [String: String], logger: Logger,
        coordinator: DockerTruncationCoordinator = DockerTruncationCoordinator(), counters: Counters = Counters()
    ) {
        self.configuration = configuration
        self.environment = environment
        self.logger = logger
        self.coordinator = coordinator
        self.counters = counters
    }

    /// The rotation engine over the configuration in force (`provider`), coordinated with the Docker source.
    public func makeRotationService(provider: @escaping @Sendable () -> Configuration) -> RotationService {
        RotationService(
            configurationProvider: provider, coordinator: coordinator, counters: counters,
            logger: Logger(label: "edgelog.rotation"))
    }

    /// Builds the pipeline: `prepare` then `makePipeline(_:)`.
    public func makePipeline(onceEpilogue: (@Sendable () async -> Void)? = nil) throws -> Pipeline {
        try makePipeline(try prepare(onceEpilogue: onceEpilogue))
    }

    /// Everything of a pipeline that depends on the configuration and the environment (the sink with its
    /// secrets, transport and proxy; the sources), built without touching the running pipeline or the state
    /// directory. It throws what would stop this configuration from running (a `SinkSetupError`), so a
    /// configuration is refused before it replaces the one in force.
    public func prepare(onceEpilogue: (@Sendable () async -> Void)? = nil) throws -> PreparedPipeline {
        let compressor = GzipBatchCompressor()
        let sink = try makeSink(compressor: compressor)
        let (docker, journal) = Self.sourceSettings(configuration, maxFieldBytes: sink.maxFieldBytes)
        var sources: [any LogSource] = []
        if docker.enabled {
            sources.append(
                DockerSource(
                    settings: docker, environment: environment, coordinator: coordinator, onceEpilogue: onceEpilogue,
                    records: configuration.records, filters: configuration.filters, redaction: configuration.redaction))
        }
        let containers = Self.journalContainers(docker: docker, hostEntries: journal.enabled, environment: environment)
        if journal.enabled || containers != nil {
            sources.append(
                JournalSource(
                    settings: journal, records: configuration.records, filters: configuration.filters,
                    redaction: configuration.redaction, hostEntries: journal.enabled, containers: containers))
        }
        return PreparedPipeline(configuration: configuration, sink: sink, sources: sources, compressor: compressor)
    }

    /// The pipeline over parts `prepare` built (it opens the checkpoints and the spool).
    public func makePipeline(_ prepared: PreparedPipeline) throws -> Pipeline {
        try Pipeline(
            configuration: prepared.configuration, host: Environment.host(environment), sources: prepared.sources,
            sink: prepared.sink, compressor: prepared.compressor, counters: counters, logger: logger)
    }

    /// The sources' settings for a sink that truncates fields over `maxFieldBytes` (the Logs Ingestion API's
    /// 64 KB): messages are cut there by EdgeLog itself, at a UTF-8 boundary and counted (`messagesTruncated`),
    /// so it shows instead of happening silently upstream.
    static func sourceSettings(_ configuration: Configuration, maxFieldBytes: Int?) -> (DockerSettings, JournalSettings) {
        var docker = configuration.docker
        var journal = configuration.journal
        if let cap = maxFieldBytes.map(Int64.init) {
            docker.maxMessageBytes = min(docker.maxMessageBytes, cap)
            journal.maxFieldBytes = min(journal.maxFieldBytes, cap)
        }
        return (docker, journal)
    }

    /// How the journal source treats entries of Docker's `journald` driver (`docker.journal`): nil when they are not
    /// container records (`false`, or the `docker` section off). `auto` collects them whenever the journal is read
    /// for host entries, and otherwise reads the journal once a container under `containersDirectory` uses that
    /// driver (looked for every 10 s).
    static func journalContainers(docker: DockerSettings, hostEntries: Bool, environment: [String: String]) -> JournalContainers? {
        guard docker.enabled, docker.journal != .false else { return nil }
        let directory = docker.containersDirectory
        var containers = JournalContainers(
            docker: docker, selfId: docker.excludeSelf ? ContainerDirectory.selfId() : nil,
            selfNames: environment["IOTEDGE_MODULEID"].map { [$0] } ?? [],
            lookup: { ContainerDirectory.info(containersDirectory: directory, id: $0) })
        if docker.journal == .auto && !hostEntries {
            containers.waitUntil = { ContainerDirectory.anyUses(.journald, containersDirectory: directory) }
        }
        return containers
    }

    /// `run --once`: every source to its current end, everything delivered. True if nothing is left undelivered.
    public func runOnce() async throws -> Bool {
        // One rotation check at the end: while the Docker source still follows its files (so a copytruncate
        // drains them first and loses nothing), or after the run when there is no Docker source.
        let configuration = self.configuration
        let rotation = makeRotationService(provider: { configuration })
        let rotationFailed = Flag()
        let pass: @Sendable () async -> Void = {
            let report = await rotation.runOnce()
            if !report.succeeded { rotationFailed.set() }
        }
        let rotateWithDocker = configuration.rotation.enabled && configuration.docker.enabled
        let pipeline = try makePipeline(onceEpilogue: rotateWithDocker ? pass : nil)
        let progress = onceProgress(pipeline)
        let logger = self.logger
        var done = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await CodePageTrimmer.run(logger: logger) }
            defer { group.cancelAll() }
            return try await pipeline.run(mode: .once)
        }
        await progress.finish()
        if configuration.rotation.enabled && !configuration.docker.enabled { await pass() }
        if rotationFailed.isSet {
            logger.error("the rotation check at the end of the run had errors (see above)")
            done = false
        }
        let c = pipeline.counters
        let destination: String
        switch configuration.sink.target {
        case .file: destination = configuration.sinkDirectory
        case .logsIngestion(let target): destination = URLRedaction.redact(target.endpoint)
        case .http(let target): destination = URLRedaction.redact(target.url)
        }
        logger.info(
            "read \(c[.recordsRead]) records (\(c[.bytesRead]) bytes); delivered \(c[.recordsDelivered]) records in \(c[.batchesDelivered]) batches to the \(configuration.sink.type) sink (\(destination))"
        )
        return done
    }

    /// On a terminal: bytes read of the estimated backlog, rate, ETA, records read and shipped.
    private func onceProgress(_ pipeline: Pipeline) -> ProgressReporter {
        // Off a terminal nothing is drawn: skip listing the containers for a total nobody sees. The positions the
        // pipeline loaded (checkpoints and the recovered spool) give the backlog without reading them again.
        let backlog =
            TerminalStatusLine.standardError.isTerminal
            ? DockerBacklog.bytes(docker: configuration.docker, positions: pipeline.checkpoints.positions) : 0
        let counters = pipeline.counters
        // The pipeline has restored the counters of earlier runs: count from here.
        let bytes0 = counters[.bytesRead]
        let read0 = counters[.recordsRead]
        let shipped0 = counters[.recordsDelivered]
        let total: Int64? = backlog > 0 ? backlog : nil
        return ProgressReporter { seconds in
            let read = ProgressLine.grouped(Int64(counters[.recordsRead] - read0))
            let shipped = ProgressLine.grouped(Int64(counters[.recordsDelivered] - shipped0))
            return ProgressLine.format(
                done: Int64(counters[.bytesRead] - bytes0), total: total, seconds: seconds,
                detail: "\(read) records read, \(shipped) shipped")
        }
    }

    /// `run`: until SIGTERM or SIGINT, then stop reading, spool, deliver within the grace period and return.
    /// A configuration that cannot be applied never ends it: the supervisor runs the last good one, or nothing
    /// (saying why in `/healthz` and the twin), and keeps trying.
    /// - Parameter fileProblems: the config file was invalid and this application's configuration is the last
    ///   good one read from the state directory instead.
    public func runUntilSignalled(fileProblems: [Diagnostic] = []) async throws {
        // IoT Edge module mode when the runtime's IOTEDGE_* variables (or EdgeHubConnectionString) are there;
        // without them EdgeLog runs from its config file alone.
        var edge: EdgeEnvironment?
        do {
            edge = try EdgeEnvironment.from(environment)
        } catch {
            logger.error("module twin disabled: \(error); running from the config file alone")
        }
        let supervisor = Supervisor(
            application: self, fileProblems: fileProblems,
            twinWait: edge == nil ? nil : .milliseconds(Int64(configuration.twin.startupWaitSeconds * 1000)))
        logger.info("EdgeLog \(EdgeLogVersion.current) running; state in \(configuration.stateDirectory)")
        // Rotation follows the configuration in force; while none is, it waits.
        let rotation = makeRotationService {
            if let inForce = supervisor.inForce { return inForce.configuration }
            var idle = supervisor.configuration
            idle.rotation.enabled = false
            return idle
        }
        let twin = edge.map { edge in
            TwinService(
                edge: edge, supervisor: supervisor, settings: TwinServiceSettings(environment: environment), logger: logger,
                rotateNow: { paths in try await Application.rotateNow(paths, rotation: rotation) })
        }
        let metrics = MetricsService(
            supervisor: supervisor,
            collector: MetricsCollector(supervisor: supervisor, counters: counters, twin: twin, host: Environment.host(environment)),
            logger: logger)
        // The listener is part of every configuration change from the first one on.
        await supervisor.attach(metrics)
        // Shut down in reverse order: the twin and rotation first, then metrics, then the pipeline (which drains
        // and commits).
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: SupervisorService(supervisor: supervisor)),
            .init(service: metrics),
            .init(service: RotationServiceRunner(service: rotation)),
            .init(service: CodePageTrimService(logger: logger)),
        ]
        if let twin { services.append(.init(service: twin)) }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("EdgeLog stopped; checkpoints committed")
    }
}

/// The parts of a pipeline built ahead of it (`Application.prepare`).
public struct PreparedPipeline: Sendable {
    public let configuration: Configuration
    let sink: any Sink
    let sources: [any LogSource]
    let compressor: GzipBatchCompressor
}

/// Rotation on its own schedule, as a service.
struct RotationServiceRunner: Service {
    let service: RotationService
    func run() async throws { await service.run() }
}

/// Code pages given back on `CodePageTrimmer`'s schedule until shutdown.
struct CodePageTrimService: Service {
    let logger: Logger
    func run() async throws {
        await cancelWhenGracefulShutdown { await CodePageTrimmer.run(logger: logger) }
    }
}

/// A flag set from any task.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// The supervisor as a service: graceful shutdown stops the sources and drains within the grace period.
struct SupervisorService: Service {
    let supervisor: Supervisor

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await supervisor.run()
        } onGracefulShutdown: {
            supervisor.shutdown()
        }
    }
}

public enum EdgeLogVersion {
    public static let current = "0.1.0"
}
