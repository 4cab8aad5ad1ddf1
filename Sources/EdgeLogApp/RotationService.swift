import EdgeLogCore
import EdgeLogRotation
import Logging
import ServiceLifecycle

/// Rotation inside the application: a pass now and then on its own schedule (`rotation.checkIntervalSeconds`),
/// its blocking work (copies, gzip) on a dedicated thread so tailing and upload never wait for it.
/// Copy-truncates go through `coordinator`, so the tailer of a file drains it first and takes the last bytes
/// from the rotated copy. Each pass reads the configuration afresh, so a live change (the twin) applies from the
/// next pass, `enabled` included.
public struct RotationService: Sendable {
    private let current: @Sendable () -> Configuration
    public let coordinator: any TruncationCoordinator
    public let counters: Counters
    public let logger: Logger
    let clock: any RotationClock
    let fileOperations: any FileOperations
    /// Told of the bytes each pass copies and compresses (`edgelog rotate`'s progress line).
    public var progress: RotationProgress?

    /// A service over a fixed configuration.
    /// - Parameters:
    ///   - coordinator: the Docker source's side of the copytruncate protocol (files no source follows need none).
    ///   - counters: the pipeline's counters, so rotation figures are persisted and reported with the rest.
    public init(
        configuration: Configuration, coordinator: any TruncationCoordinator = NoTruncationCoordination(),
        counters: Counters = Counters(), logger: Logger = Logger(label: "edgelog.rotation"),
        clock: any RotationClock = SystemRotationClock(), fileOperations: any FileOperations = SystemFileOperations()
    ) {
        self.init(
            configurationProvider: { configuration }, coordinator: coordinator, counters: counters, logger: logger,
            clock: clock, fileOperations: fileOperations)
    }

    /// A service that asks `configurationProvider` for the configuration in force at every pass
    /// (e.g. `{ supervisor.configuration }`).
    public init(
        configurationProvider: @escaping @Sendable () -> Configuration,
        coordinator: any TruncationCoordinator = NoTruncationCoordination(), counters: Counters = Counters(),
        logger: Logger = Logger(label: "edgelog.rotation"), clock: any RotationClock = SystemRotationClock(),
        fileOperations: any FileOperations = SystemFileOperations()
    ) {
        current = configurationProvider
        self.coordinator = coordinator
        self.counters = counters
        self.logger = logger
        self.clock = clock
        self.fileOperations = fileOperations
    }

    /// The configuration in force.
    public var configuration: Configuration { current() }

    /// One pass over every policy, whatever `rotation.enabled` says. `force` rotates regardless of triggers;
    /// `dryRun` changes nothing. Each action is logged at info (debug in a dry run: the caller prints the report),
    /// each error at error, decisions and notes (a pattern matching nothing) at debug.
    public func runOnce(force: Bool = false, dryRun: Bool = false) async -> RotationReport {
        await pass(configuration, force: force, dryRun: dryRun)
    }

    /// Until the task is cancelled or a graceful shutdown begins: with `rotation.enabled`, a pass at once and
    /// then one every `checkIntervalSeconds`; disabled, it only looks again after that interval. A pass under way
    /// finishes the file it is on first. Never returns before that, so it can sit in a ServiceGroup as it is.
    public func run() async {
        await cancelWhenGracefulShutdown {
            var announced: Double?
            while !Task.isCancelled {
                let configuration = self.configuration
                let interval = configuration.rotation.checkIntervalSeconds
                if configuration.rotation.enabled {
                    if announced != interval {
                        logger.info("rotation: checking every \(interval) s")
                        announced = interval
                    }
                    _ = await pass(configuration, force: false, dryRun: false)
                } else {
                    announced = nil
                }
                do {
                    try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                } catch {
                    return
                }
            }
        }
    }

    private func pass(_ configuration: Configuration, force: Bool, dryRun: Bool) async -> RotationReport {
        let logger = self.logger
        let rotator = Rotator(
            settings: configuration.rotation, containersDirectory: configuration.docker.containersDirectory,
            stateDirectory: configuration.stateDirectory, ops: fileOperations, clock: clock, coordinator: coordinator,
            counters: counters,
            onEvent: { event in
                switch event {
                case .action(let s) where dryRun: logger.debug("rotation: \(s)")
                case .action(let s): logger.info("rotation: \(s)")
                case .decision(let s): logger.debug("rotation: \(s)")
                case .error(let s): logger.error("rotation: \(s)")
                case .note(let s): logger.debug("rotation: \(s)")
                }
            }, progress: progress)
        let report = await rotator.pass(force: force, dryRun: dryRun)
        if !dryRun && (report.rotations > 0 || report.filesDeleted > 0 || !report.errors.isEmpty) {
            logger.info("rotation: \(report.summary)")
        } else {
            logger.debug("rotation: \(report.summary)")
        }
        return report
    }
}

extension RotationService: Service {}
