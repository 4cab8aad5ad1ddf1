import EdgeLogCore
import EdgeLogMetrics
import Logging
import ServiceLifecycle

/// `/metrics` and `/healthz` as a service next to the supervisor. Follows the `metrics` section live: a change of
/// `enabled`, `host`, `port` or `path` (from the config file at start or the module twin later) closes the
/// listener and opens the new one, without touching the pipeline. Where it listens is written to
/// `<stateDirectory>/metrics-endpoint.json` for `edgelog healthcheck`.
public final class MetricsService: Service, Sendable {
    let supervisor: Supervisor
    let collector: MetricsCollector
    let logger: Logger

    public init(supervisor: Supervisor, collector: MetricsCollector, logger: Logger) {
        self.supervisor = supervisor
        self.collector = collector
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.follow() }
    }

    /// The part of the section that needs a new listener when it changes.
    private struct Listener: Equatable {
        var enabled: Bool
        var host: String
        var port: Int
        var path: String

        init(_ s: MetricsSettings) {
            (enabled, host, port, path) = (s.enabled, s.host, Int(s.port), s.path)
        }
    }

    private func follow() async {
        let stateDirectory = supervisor.configuration.stateDirectory
        await withDiscardingTaskGroup { group in
            var current: Listener?
            var server: MetricsServer?
            for await configuration in supervisor.configurationUpdates() {
                let wanted = Listener(configuration.metrics)
                if wanted == current { continue }
                current = wanted
                if let old = server {
                    await old.close()
                    server = nil
                    logger.info("metrics: stopped listening on \(old.host):\(old.port)")
                }
                var endpoint = MetricsEndpointFile.Endpoint(enabled: false, host: wanted.host, port: wanted.port)
                if wanted.enabled {
                    endpoint.enabled = true
                    do {
                        let started = try await MetricsServer.bind(
                            host: wanted.host, port: wanted.port, endpoints: collector.endpoints(path: wanted.path))
                        server = started
                        group.addTask { await started.run() }
                        logger.info(
                            "metrics: serving http://\(wanted.host):\(started.port)\(wanted.path) and \(MetricsSettings.healthPath)"
                        )
                    } catch {
                        // The healthcheck then fails on this port: the problem shows where it is watched.
                        logger.error(
                            "metrics: cannot listen on \(wanted.host):\(wanted.port): \(error); /metrics and /healthz are unavailable until the metrics section changes or EdgeLog restarts"
                        )
                    }
                } else {
                    logger.info("metrics: disabled (metrics.enabled is false)")
                }
                do {
                    try MetricsEndpointFile.write(endpoint, stateDirectory: stateDirectory)
                } catch {
                    logger.warning("metrics: cannot write \(stateDirectory)/\(MetricsEndpointFile.name): \(error)")
                }
            }
            await server?.close()
        }
    }
}
