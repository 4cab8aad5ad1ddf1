import EdgeLogCore

/// `edgelog healthcheck`: asks the running process's `/healthz`, where `<stateDirectory>/metrics-endpoint.json`
/// says it listens (the twin may have moved it), else where the configuration says. With metrics disabled it
/// checks what `edgelog status` needs: that the state directory can be read.
public enum Healthcheck {
    /// Healthy or not, and why (for stderr, or stdout when healthy).
    public static func run(configuration: Configuration) -> (healthy: Bool, message: String) {
        let settings = configuration.metrics
        let endpoint =
            MetricsEndpointFile.read(stateDirectory: configuration.stateDirectory)
            ?? .init(enabled: settings.enabled, host: settings.host, port: Int(settings.port))
        guard endpoint.enabled else {
            do {
                _ = try StatusReport.make(configuration: configuration)
                return (true, "metrics are disabled; the state directory \(configuration.stateDirectory) is readable")
            } catch {
                return (false, "metrics are disabled, and the state directory cannot be read: \(error)")
            }
        }
        do {
            let (status, body) = try HealthcheckClient.get(
                host: endpoint.host, port: endpoint.port, path: MetricsSettings.healthPath)
            let text = body.split(whereSeparator: \.isNewline).joined(separator: "; ")
            if status == 200 { return (true, text.isEmpty ? "ok" : text) }
            return (false, "\(MetricsSettings.healthPath) answered \(status): \(text)")
        } catch {
            return (false, "\(error)")
        }
    }
}
