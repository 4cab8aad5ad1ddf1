import NIOCore
import NIOHTTP1

/// Answers each complete request with `MetricsEndpoints`; a body over the limit gets 413 and the connection closes.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let endpoints: MetricsEndpoints
    let maxBodyBytes: Int
    private var request: HTTPRequestHead?
    private var bodyBytes = 0

    init(endpoints: MetricsEndpoints, maxBodyBytes: Int) {
        self.endpoints = endpoints
        self.maxBodyBytes = maxBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            bodyBytes = 0
        case .body(let chunk):
            bodyBytes += chunk.readableBytes
            if bodyBytes > maxBodyBytes, let head = request {
                request = nil
                let answer = MetricsEndpoints.Answer(status: 413, body: "request body too large\n")
                respond(context, answer, version: head.version, keepAlive: false)
            }
        case .end:
            guard let head = request else { return }  // refused already
            request = nil
            let answer = endpoints.answer(method: head.method.rawValue, uri: head.uri)
            respond(context, answer, version: head.version, keepAlive: head.isKeepAlive)
        }
    }

    /// A request the decoder refused (answered 400 by NIO's error handler) or a broken connection: close it.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func respond(
        _ context: ChannelHandlerContext, _ answer: MetricsEndpoints.Answer, version: HTTPVersion, keepAlive: Bool
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.count))
        if let allow = answer.allow { headers.add(name: "Allow", value: allow) }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if version.major == 1 && version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let head = HTTPResponseHead(
            version: version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
