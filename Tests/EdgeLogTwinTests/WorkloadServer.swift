import EdgeLogCore
import EdgeLogTwin
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The IoT Edge workload API on a unix socket: `sign` with a known key and `trust-bundle`. Refuses the
/// first `refuseFirst` requests with 503 (to exercise retries) and records what it signed.
final class WorkloadServer: Sendable {
    let socketPath: String
    let key: [UInt8]
    let trustPEM: String
    let channel: any Channel
    final class Box: Sendable {
        let state: Mutex<State>
        init(_ s: State) { state = Mutex(s) }
    }
    let box: Box
    struct State {
        var signed: [String] = []
        var trustBundles = 0
        var refuseLeft: Int
    }

    init(socketPath: String, key: [UInt8], trustPEM: String, refuseFirst: Int = 0) async throws {
        self.socketPath = socketPath
        self.key = key
        self.trustPEM = trustPEM
        let state = Box(State(refuseLeft: refuseFirst))
        self.box = state
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(key: key, trustPEM: trustPEM, state: state))
                }
            }
            .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true).get()
    }

    var signed: [String] { box.state.withLock { $0.signed } }

    func close() async { try? await channel.close() }

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let key: [UInt8]
        let trustPEM: String
        let state: WorkloadServer.Box
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(key: [UInt8], trustPEM: String, state: WorkloadServer.Box) {
            self.key = key
            self.trustPEM = trustPEM
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h; body = []
            case .body(var b): body += b.readBytes(length: b.readableBytes) ?? []
            case .end:
                let (status, answer) = respond()
                var out = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status))
                let bytes = Array(answer.serialized().utf8)
                out.headers.add(name: "Content-Type", value: "application/json")
                out.headers.add(name: "Content-Length", value: String(bytes.count))
                context.write(wrapOutboundOut(.head(out)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }

        func respond() -> (Int, JSONValue) {
            guard let head else { return (400, .null) }
            if state.state.withLock({ s -> Bool in
                if s.refuseLeft > 0 { s.refuseLeft -= 1; return true }
                return false
            }) {
                return (503, .object([("message", .string("busy"))]))
            }
            guard head.uri.contains("api-version=2019-01-30") else { return (400, .object([("message", .string("api-version"))])) }
            if head.method == .GET && head.uri.hasPrefix("/trust-bundle") {
                state.state.withLock { $0.trustBundles += 1 }
                return (200, .object([("certificate", .string(trustPEM))]))
            }
            if head.method == .POST && head.uri.hasPrefix("/modules/edgelog/genid/gen1/sign") {
                guard let doc = try? JSONParser.parse(body), doc["keyId"]?.stringValue == "primary", doc["algo"]?.stringValue == "HMACSHA256",
                    let data = doc["data"]?.stringValue.flatMap(Base64.decode)
                else { return (400, .object([("message", .string("bad sign request"))])) }
                state.state.withLock { $0.signed.append(String(decoding: data, as: UTF8.self)) }
                return (200, .object([("digest", .string(Base64.encode(HMACSHA256.authenticate(data, key: key))))]))
            }
            return (404, .object([("message", .string("not found"))]))
        }
    }
}
