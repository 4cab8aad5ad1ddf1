import EdgeLogCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// The IoT Edge workload API over its unix socket (HTTP/1.1): signs with the module's key and hands out
/// the trust bundle. At most `maxConcurrent` requests at once (the runtime allows 10 per socket); a refused
/// connection, 429 or 5xx is retried with backoff.
public final class WorkloadClient: Sendable {
    public let socketPath: String
    public let moduleId: String
    public let generationId: String
    public let apiVersion: String
    let gate: ConcurrencyGate
    let attempts: Int
    let backoff: Backoff

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public init(
        socketPath: String, moduleId: String, generationId: String, apiVersion: String = "2019-01-30",
        maxConcurrent: Int = 10, attempts: Int = 6, backoff: Backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
    ) {
        self.socketPath = socketPath
        self.moduleId = moduleId
        self.generationId = generationId
        self.apiVersion = apiVersion
        gate = ConcurrencyGate(limit: maxConcurrent)
        self.attempts = attempts
        self.backoff = backoff
    }

    /// The HMAC-SHA256 of `data` with the module's primary key, base64.
    public func sign(_ data: [UInt8]) async throws -> String {
        let body = JSONValue.object([("keyId", .string("primary")), ("algo", .string("HMACSHA256")), ("data", .string(Base64.encode(data)))])
        let path = "/modules/\(PercentEncoding.encode(moduleId))/genid/\(PercentEncoding.encode(generationId))/sign?api-version=\(apiVersion)"
        let answer = try await call(method: .POST, path: path, body: Array(body.serialized().utf8))
        guard let digest = answer["digest"]?.stringValue else { throw Failure(description: "the workload API's sign answer has no digest") }
        return digest
    }

    /// The PEM certificates edgeHub's chain leads to.
    public func trustBundle() async throws -> [UInt8] {
        let answer = try await call(method: .GET, path: "/trust-bundle?api-version=\(apiVersion)", body: nil)
        guard let pem = answer["certificate"]?.stringValue else { throw Failure(description: "the trust bundle answer has no certificate") }
        return Array(pem.utf8)
    }

    /// A SAS token for the module valid until `expiry`.
    public func token(resourceURI: String, expiry: Int64) async throws -> SASToken {
        let signature = try await sign(SASToken.stringToSign(resourceURI: resourceURI, expiry: expiry))
        return SASToken(resourceURI: resourceURI, expiry: expiry, signatureBase64: signature)
    }

    func call(method: HTTPMethod, path: String, body: [UInt8]?) async throws -> JSONValue {
        var backoff = self.backoff
        var lastProblem = ""
        for attempt in 1...attempts {
            if attempt > 1 { try await Task.sleep(for: backoff.next()) }
            let result: (status: Int, body: [UInt8])
            do {
                result = try await gate.run { try await self.once(method: method, path: path, body: body) }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                lastProblem = "cannot reach \(socketPath): \(error)"
                continue
            }
            if result.status == 429 || result.status >= 500 {
                lastProblem = "HTTP \(result.status)"
                continue
            }
            guard (200..<300).contains(result.status) else {
                let message = (try? JSONParser.parse(result.body))?["message"]?.stringValue ?? ""
                throw Failure(description: "the workload API answered \(method) \(path.split(separator: "?")[0]) with HTTP \(result.status) \(message)")
            }
            do {
                return try JSONParser.parse(result.body)
            } catch {
                throw Failure(description: "the workload API's answer is not JSON: \(error)")
            }
        }
        throw Failure(description: "the workload API failed \(attempts) times; last: \(lastProblem)")
    }

    private func once(method: HTTPMethod, path: String, body: [UInt8]?) async throws -> (status: Int, body: [UInt8]) {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let response = eventLoop.makePromise(of: HTTPAnswer.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(response: response))
                    }
                }
                .connect(unixDomainSocketPath: socketPath).get()
        } catch {
            response.fail(error)  // a promise must be completed, whatever happens
            throw error
        }
        defer { channel.close(promise: nil) }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: "localhost")
        head.headers.add(name: "Connection", value: "close")
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.count))
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        do {
            try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        } catch {
            response.fail(error)
            throw error
        }
        let answer = try await response.futureResult.get()
        return (answer.status, answer.body)
    }
}

struct HTTPAnswer: Sendable {
    var status: Int
    var body: [UInt8]
}

/// Collects one HTTP response (at most 4 MiB) into a promise.
final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private var status = 0
    private var body: [UInt8] = []
    private var done = false
    let response: EventLoopPromise<HTTPAnswer>

    init(response: EventLoopPromise<HTTPAnswer>) { self.response = response }

    private func finish(_ result: Result<HTTPAnswer, any Error>) {
        guard !done else { return }
        done = true
        response.completeWith(result)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = Int(head.status.code)
        case .body(var buffer):
            if body.count + buffer.readableBytes > 4 << 20 {
                finish(.failure(WorkloadClient.Failure(description: "the workload API's answer exceeds 4 MiB")))
                context.close(promise: nil)
                return
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            finish(.success(HTTPAnswer(status: status, body: body)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(WorkloadClient.Failure(description: "the workload API closed the connection early")))
        context.fireChannelInactive()
    }
}

/// At most `limit` bodies at once.
actor ConcurrencyGate {
    let limit: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if running >= limit {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            running += 1
        }
        defer { release() }
        return try await body()
    }

    private func release() {
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
