import EdgeLogCore
import EdgeLogGzip
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A stand-in for the Logs Ingestion API and Microsoft Entra's token endpoint on 127.0.0.1 (ephemeral port),
/// strict about the documented contract, with faults injected per call. What it stored is kept per call, with
/// whether the client was told (a reset or a late answer after storing explains a duplicate).
final class IngestionServer: Sendable {
    static let tenant = "tenant-0"
    static let clientId = "00000000-0000-4000-8000-000000000001"
    static let clientSecret = "s3cret-value-0"
    static let dcr = "dcr-0123456789abcdef0123456789abcdef"
    static let stream = "Custom-EdgeLogs"
    static let maxBytes = 1_000_000

    /// What to do with the next ingest call instead of (or around) storing it.
    enum Fault: Sendable {
        /// Answer `status` (with `Retry-After` if given) without storing.
        case status(
            Int, retryAfter: String? = nil,
            body: String = "{\"error\":{\"code\":\"Injected\",\"message\":\"injected\"}}")
        /// Close the connection without an answer, nothing stored.
        case resetBeforeStore
        /// Store, then close without an answer.
        case resetAfterStore
        /// Store, answer 204 after `delay`.
        case slow(Duration)
        /// Every token issued so far stops being valid (the call then gets 401).
        case revokeTokens
        /// Answer `status` with a body that does not end: `chunkBytes` at a time, every `every` (nil: as fast as
        /// the client takes them), ending only after `upTo` bytes (or when the client closes the connection).
        case endless(status: Int, chunkBytes: Int, every: Duration?, upTo: Int)
    }

    /// What became of the endless answers: bytes written into them, and how many ended because the client
    /// closed the connection (instead of reaching `upTo`).
    struct Endless: Sendable {
        var bytesWritten = 0
        var abandonedByClient = 0
        var completed = 0
    }

    struct Call: Sendable {
        let records: [JSONValue]
        /// False if the server stored it but the client never got the 204 (a fault, or the client gave up on the
        /// call before the answer could be written: its timeout).
        var acknowledged: Bool
    }

    struct State: Sendable {
        var tokens: [String: ContinuousClock.Instant] = [:]
        var tokenLifetime = 3600
        var tokenRequests = 0
        var tokenFailure: Int?
        var faults: [Fault] = []
        var outage: Fault?
        var calls: [Call] = []
        var statuses: [Int: Int] = [:]
        var callTimes: [ContinuousClock.Instant] = []
        var requestIds: [String] = []
        var inFlight = 0
        var maxInFlight = 0
        /// While set, ingest calls are held until this many are in flight (or 2 s pass).
        var holdUntilInFlight: Int?
        /// CONNECT requests (authority, headers): the server played a proxy that refuses.
        var connects: [(String, [(String, String)])] = []
        /// Request headers of each call to `/collect`.
        var collectorHeaders: [[(String, String)]] = []
        /// Applied to the next token request instead of answering it.
        var tokenFault: Fault?
        var endless = Endless()
    }

    let state = Mutex(State())
    private let channel: any Channel
    let port: Int

    let tls: Bool
    var url: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }

    private init(channel: any Channel, tls: Bool) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.tls = tls
    }

    /// - Parameter tls: serve https with `TestCertificates.serverPEM` (signed by the test CA).
    static func start(tls: Bool = false) async throws -> IngestionServer {
        let box = Mutex<IngestionServer?>(nil)
        let context: NIOSSLContext? =
            tls
            ? try NIOSSLContext(
                configuration: .makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(TestCertificates.serverPEM.utf8)).map {
                        .certificate($0)
                    },
                    privateKey: .privateKey(
                        try NIOSSLPrivateKey(bytes: Array(TestCertificates.serverKeyPEM.utf8), format: .pem)))) : nil
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(IngestionHandler(server: { box.withLock { $0! } }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = IngestionServer(channel: channel, tls: tls)
        box.withLock { $0 = server }
        return server
    }

    func stop() async { try? await channel.close() }

    // MARK: scripting and reading

    func inject(_ faults: Fault...) { state.withLock { $0.faults.append(contentsOf: faults) } }
    func setOutage(_ fault: Fault?) { state.withLock { $0.outage = fault } }
    func setTokenLifetime(_ seconds: Int) { state.withLock { $0.tokenLifetime = seconds } }
    func failTokens(with status: Int?) { state.withLock { $0.tokenFailure = status } }
    func faultNextToken(_ fault: Fault) { state.withLock { $0.tokenFault = fault } }
    var endless: Endless { state.withLock { $0.endless } }

    var calls: [Call] { state.withLock { $0.calls } }
    var records: [JSONValue] { state.withLock { $0.calls.flatMap(\.records) } }
    var tokenRequests: Int { state.withLock { $0.tokenRequests } }
    func count(_ status: Int) -> Int { state.withLock { $0.statuses[status] ?? 0 } }

    /// Numbers `n` of one source's records in arrival order (records carry `"n"` and `"s"`).
    func numbers(source: String) -> [Int] {
        records.filter { $0["s"]?.stringValue == source }.compactMap { $0["n"]?.intValue.map(Int.init) }
    }

    /// Numbers stored in calls the client was not told about: the only duplicates allowed.
    func unacknowledgedNumbers(source: String) -> Set<Int> {
        Set(
            calls.filter { !$0.acknowledged }.flatMap(\.records).filter { $0["s"]?.stringValue == source }
                .compactMap { $0["n"]?.intValue.map(Int.init) })
    }
}
