import EdgeLogAzure
import EdgeLogCore

extension Application {
    /// The sink `sink.type` names. Secrets come from the file or the environment here, never from the document.
    func makeSink(compressor: any BatchCompressor) throws -> any Sink {
        let settings = configuration.sink
        let level = Int(configuration.batch.compressionLevel)
        switch settings.target {
        case .logsIngestion(let target):
            let secret = try SecretSource.clientSecret(file: target.clientSecretFile, environment: environment)
            let transport = try makeTransport()
            logger.info(
                "sink logsIngestion: \(URLRedaction.redact(target.ingestionURL)), tenant \(target.tenantId), client \(target.clientId), up to \(settings.concurrency) calls at once\(proxyNote(transport, target.endpoint))"
            )
            return LogsIngestionSink(
                settings: settings, secret: secret, transport: transport, compressor: compressor, level: level,
                logger: logger, uploads: counters.uploads)
        case .http(let target):
            var headers = target.headers.sorted(by: { $0.key < $1.key }).map { ($0.key, Secret($0.value)) }
            headers += try SecretSource.headers(target.headersFromEnvironment, environment: environment)
            let transport = try makeTransport()
            logger.info(
                "sink http: \(URLRedaction.redact(target.url)) (\(settings.format)), \(headers.count) extra header(s), up to \(settings.concurrency) calls at once\(proxyNote(transport, target.url))"
            )
            return HTTPSink(
                settings: settings, headers: headers, transport: transport, compressor: compressor, level: level,
                logger: logger, uploads: counters.uploads)
        case .file:
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
