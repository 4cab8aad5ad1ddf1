import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Asks for the WebSocket upgrade (`GET path` with `Sec-WebSocket-Protocol: mqtt`; the upgrader adds the key,
/// version and upgrade headers) and fails `upgraded` with a clear `MQTTConnectionError` if the server refuses
/// it, the handshake breaks or the connection closes first. It leaves the pipeline with the HTTP handlers
/// when the upgrade succeeds.
final class WebSocketUpgradeRequester: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let port: Int
    let path: String
    let upgraded: EventLoopPromise<Void>
    private var requested = false

    init(host: String, port: Int, path: String, upgraded: EventLoopPromise<Void>) {
        self.host = host
        self.port = port
        self.path = path
        self.upgraded = upgraded
    }

    /// Adds, after TLS: the HTTP client handlers with the WebSocket upgrader and this requester. Once upgraded:
    /// the frame bridge and then `handlers()` (the MQTT codec and connection handler); `upgraded` succeeds.
    static func addHandlers(
        to channel: any Channel, host: String, port: Int, path: String, maxFrameSize: Int,
        upgraded: EventLoopPromise<Void>, then handlers: @escaping @Sendable () -> [any ChannelHandler]
    ) throws {
        let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: maxFrameSize) { channel, response in
            let chosen = response.headers["Sec-WebSocket-Protocol"]
            if !chosen.isEmpty, chosen.map({ $0.lowercased() }) != [MQTTTransport.webSocketSubprotocol] {
                let error = MQTTConnectionError.webSocket(
                    "the server chose the subprotocol \(chosen.joined(separator: ", ")) instead of \(MQTTTransport.webSocketSubprotocol)")
                upgraded.fail(error)
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
            let added = channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(WebSocketFrameBridge())
                try channel.pipeline.syncOperations.addHandlers(handlers())
            }
            added.cascade(to: upgraded)
            return added
        }
        let requester = WebSocketUpgradeRequester(host: host, port: port, path: path, upgraded: upgraded)
        try channel.pipeline.syncOperations.addHTTPClientHandlers(
            leftOverBytesStrategy: .forwardBytes,
            withClientUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    // The HTTP handlers are gone; the requester goes too, before the WebSocket handlers arrive.
                    if let own = try? context.pipeline.syncOperations.context(handlerType: WebSocketUpgradeRequester.self) {
                        context.pipeline.syncOperations.removeHandler(context: own, promise: nil)
                    }
                }
            ))
        try channel.pipeline.syncOperations.addHandler(requester)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { request(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        request(context)
        context.fireChannelActive()
    }

    private func request(_ context: ChannelHandlerContext) {
        guard !requested else { return }
        requested = true
        // The port goes into Host only when it is not the default for https.
        let name = host.contains(":") ? "[\(host)]" : host
        let headers = HTTPHeaders([
            ("Host", port == 443 ? name : "\(name):\(port)"),
            ("Sec-WebSocket-Protocol", MQTTTransport.webSocketSubprotocol),
        ])
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Only a response that did not upgrade reaches this handler.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let response) = unwrapInboundIn(data) {
            fail(context, .webSocket("the server answered the upgrade of \(path) with HTTP \(response.status.code) \(response.status.reasonPhrase)"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure: MQTTConnectionError
        switch error as? NIOHTTPClientUpgradeError {
        case .some(.upgraderDeniedUpgrade):
            failure = .webSocket("the server's Sec-WebSocket-Accept does not match the request key")
        case .some(.responseProtocolNotFound):
            failure = .webSocket("the server switched protocols but not to websocket")
        case .some(let upgradeError):
            failure = .webSocket("the upgrade of \(path) failed: \(upgradeError)")
        case .none:
            failure = .closed(reason: "\(error)")
        }
        fail(context, failure)
    }

    func channelInactive(context: ChannelHandlerContext) {
        upgraded.fail(MQTTConnectionError.closed(reason: "the connection closed during the WebSocket upgrade"))
        context.fireChannelInactive()
    }

    private func fail(_ context: ChannelHandlerContext, _ error: MQTTConnectionError) {
        upgraded.fail(error)
        context.close(promise: nil)
    }
}
