import EdgeLogAzure
import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Logging
import Synchronization

/// Log lines kept for assertions (and never printed).
final class CapturedLog: Sendable {
    let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    var logger: Logger {
        var logger = Logger(label: "test") { _ in CapturingHandler(log: self) }
        logger.logLevel = .debug
        return logger
    }
}

struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { log.lines.withLock { $0.append("\(event.level): \(event.message)") } }
}

/// A source the test feeds: each `emit(n)` produces the next `n` numbered records.
final class FeedSource: LogSource, Sendable {
    let name: String
    private let stream: AsyncStream<Int>
    private let continuation: AsyncStream<Int>.Continuation
    let emitted = Mutex(0)

    init(name: String) {
        self.name = name
        (stream, continuation) = AsyncStream.makeStream(of: Int.self)
    }

    func emit(_ count: Int) { continuation.yield(count) }

    func run(_ context: SourceContext) async throws {
        for await count in stream {
            let start = emitted.withLock { n -> Int in
                defer { n += count }
                return n
            }
            await context.emit(makeChunk(source: name, from: start, count: count))
            if Task.isCancelled { return }
        }
    }
}

/// Builds the sink and pipeline against a server.
struct Harness {
    let server: IngestionServer
    let dir = TemporaryDirectory()
    let log = CapturedLog()

    func settings(concurrency: Int64 = 1, timeout: Double = 5) -> SinkSettings {
        var s = SinkSettings()
        s.type = .logsIngestion
        s.endpoint = server.url
        s.authorityHost = server.url
        s.dcrImmutableId = IngestionServer.dcr
        s.tenantId = IngestionServer.tenant
        s.clientId = IngestionServer.clientId
        s.concurrency = concurrency
        s.timeoutSeconds = timeout
        return s
    }

    /// `clock`: what the sink's access tokens are timed by.
    func sink(
        _ settings: SinkSettings, secret: String = IngestionServer.clientSecret, clock: ElapsedClock = .continuous
    ) throws -> LogsIngestionSink {
        let transport = try HTTPTransport(
            caFile: nil, proxy: nil, timeout: .milliseconds(Int64(settings.timeoutSeconds * 1000)))
        return LogsIngestionSink(
            settings: settings, secret: Secret(secret), transport: transport, compressor: TestCompressor(), level: 6,
            logger: log.logger, clock: clock)
    }

    func configuration(maxBytes: Int64 = 16 * 1024, sink: SinkSettings) -> Configuration {
        var c = Configuration()
        c.stateDirectory = dir.path
        c.batch.maxBytes = maxBytes
        c.batch.flushIntervalSeconds = 0.05
        c.sink = sink
        return c
    }

    func pipeline(_ configuration: Configuration, sources: [any LogSource], sink: any Sink) throws -> Pipeline {
        try Pipeline(
            configuration: configuration, host: HostIdentity(computer: "t"), sources: sources, sink: sink,
            compressor: TestCompressor(), logger: log.logger,
            retryBackoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(200)))
    }

    var deadLetters: DeadLetterStore { DeadLetterStore(directory: dir.path + "/deadletter") }
}

/// Every number of `0..<total` arrived, in order of first arrival, and any repeat is one the server stored
/// without the client knowing.
func expectExactlyOnce(_ server: IngestionServer, source: String, total: Int, ordered: Bool = true) -> String? {
    let got = server.numbers(source: source)
    var seen = Set<Int>()
    var firsts: [Int] = []
    let allowed = server.unacknowledgedNumbers(source: source)
    for n in got {
        if seen.insert(n).inserted {
            firsts.append(n)
        } else if !allowed.contains(n) {
            return "\(source):\(n) arrived twice without a reset or late answer to explain it"
        }
    }
    if seen != Set(0..<total) { return "\(source): \(Set(0..<total).subtracting(seen).count) records missing" }
    if ordered && firsts != Array(0..<total) { return "\(source): records out of order" }
    return nil
}
