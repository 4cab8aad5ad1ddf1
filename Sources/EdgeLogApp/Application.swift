import EdgeLogCore
import EdgeLogDocker
import EdgeLogJournal
import EdgeLogRotation
import EdgeLogTwin
import Logging
import ServiceLifecycle

/// The composition root: builds sources, sink and pipeline from a configuration and runs them.
public struct Application: Sendable {
    public let configuration: Configuration
    public let environment: [String: String]
    public let logger: Logger

    public init(configuration: Configuration, environment: [String: String], logger: Logger) {
        self.configuration = configuration
        self.environment = environment
        self.logger = logger
    }

    public func makePipeline() throws -> Pipeline {
        if let warning = configuration.metrics.warning { logger.warning("\(warning)") }
        var sources: [any LogSource] = []
        if configuration.docker.enabled {
            sources.append(DockerSource(settings: configuration.docker, environment: environment))
        }
        if configuration.journal.enabled {
            sources.append(JournalSource(settings: configuration.journal))
        }
        let compressor = GzipBatchCompressor()
        let sink = try makeSink(compressor: compressor)
        return try Pipeline(
            configuration: configuration, host: Environment.host(environment), sources: sources, sink: sink,
            compressor: compressor, logger: logger)
    }

    /// `run --once`: every source to its current end, everything delivered. True if nothing is left undelivered.
    public func runOnce() async throws -> Bool {
        let pipeline = try makePipeline()
        let done = try await pipeline.run(mode: .once)
        let c = pipeline.counters
        logger.info(
            "read \(c[.recordsRead]) records (\(c[.bytesRead]) bytes); delivered \(c[.recordsDelivered]) records in \(c[.batchesDelivered]) batches to \(configuration.sink.type) sink \(configuration.sinkDirectory)"
        )
        return done
    }

    /// `run`: until SIGTERM or SIGINT, then stop reading, spool, deliver within the grace period and return.
    public func runUntilSignalled() async throws {
        let supervisor = Supervisor(configuration: configuration, environment: environment, logger: logger)
        logger.info("EdgeLog \(EdgeLogVersion.current) running; state in \(configuration.stateDirectory)")
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: SupervisorService(supervisor: supervisor))]
        // IoT Edge module mode when the runtime's IOTEDGE_* variables (or EdgeHubConnectionString) are there;
        // without them EdgeLog runs from its config file alone.
        do {
            if let edge = try EdgeEnvironment.from(environment) {
                let twin = TwinService(
                    edge: edge, supervisor: supervisor, settings: TwinServiceSettings(environment: environment), logger: logger)
                services.append(.init(service: twin))
            }
        } catch {
            logger.error("module twin disabled: \(error); running from the config file alone")
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("EdgeLog stopped; checkpoints committed")
    }
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
