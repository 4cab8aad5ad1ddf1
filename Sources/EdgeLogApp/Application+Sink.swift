import EdgeLogAzure
import EdgeLogCore

extension Application {
    /// The sink `sink.type` names. Secrets come from the file or the environment here, never from the document.
    func makeSink(compressor: any BatchCompressor) throws -> any Sink {
        let settings = configuration.sink
        let level = Int(configuration.batch.compressionLevel)
        switch settings.type {
        case "logsIngestion":
            let secret = try SecretSource.clientSecret(file: settings.clientSecretFile, environment: environment)
            let transport = try makeTransport()
            logger.info(
                "sink logsIngestion: \(URLRedaction.redact(settings.ingestionURL)), tenant \(settings.tenantId), client \(settings.clientId), up to \(settings.concurrency) calls at once\(proxyNote(transport, settings.endpoint))"
            )
            return LogsIngestionSink(
                settings: settings, secret: secret, transport: transport, compressor: compressor, level: level,
                logger: logger, uploads: counters.uploads)
        case "http":
            var headers = settings.headers.sorted(by: { $0.key < $1.key }).map { ($0.key, Secret($0.value)) }
            headers += try SecretSource.headers(settings.headersFromEnvironment, environment: environment)
            let transport = try makeTransport()
            logger.info(
                "sink http: \(URLRedaction.redact(settings.url)) (\(settings.format)), \(headers.count) extra header(s), up to \(settings.concurrency) calls at once\(proxyNote(transport, settings.url))"
            )
            return HTTPSink(
                settings: settings, headers: headers, transport: transport, compressor: compressor, level: level,
                logger: logger, uploads: counters.uploads)
        default:
            return FileSink(directory: configuration.sinkDirectory, compressor: compressor, level: level)
        }
    }

    private func makeTransport() throws -> HTTPTransport {
        let settings = configuration.sink
        return try HTTPTransport(
            caFile: settings.caFile.isEmpty ? nil : settings.caFile,
            proxy: try ProxySettings.fromEnvironment(environment),
            timeout: .milliseconds(Int64(settings.timeoutSeconds * 1000)))
    }

    private func proxyNote(_ transport: HTTPTransport, _ url: String) -> String {
        guard let parsed = EndpointURL(url), transport.usesProxy(for: parsed),
            let proxy = try? ProxySettings.fromEnvironment(environment)
        else { return "" }
        return ", through the proxy \(proxy)"
    }
}
