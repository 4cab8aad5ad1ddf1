import EdgeLogCore
import NIOCore
import NIOHTTP1

/// One connection of `MetricsServer`. The channel does not read by itself (`autoRead` is off): this handler asks
/// for more bytes only while no answer is pending, answers the complete requests it has one at a time, and waits
/// for each answer to be taken by the socket before the next (no answer is ever buffered behind another). Every
/// phase has a deadline fixed when it begins: bytes trickling in do not extend it. The metrics are made on the
/// `BlockingPool` (a scrape `lstat`s every checkpointed file), never on the event loop, and written from the loop;
/// `/healthz` and refusals are answered on the loop.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// A request read completely (or refused while being read), waiting for its answer.
    private struct Request {
        var answer: @Sendable () -> MetricsEndpoints.Answer
        var version: HTTPVersion
        var keepAlive: Bool
        /// Made on the `BlockingPool` (it reads files), not on the event loop.
        var readsFiles = false
    }

    private let endpoints: MetricsServer.EndpointsBox
    private let limits: MetricsServer.Limits
    private let connections: MetricsServer.Connections
    private let id: Int
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    /// A body over the limit was refused: the rest of that request is ignored, the connection closes after the answer.
    private var refusing = false
    private var queue: [Request] = []
    private var answering = false
    /// Closing for good: what is still decoded is ignored.
    private var closing = false
    private var deadline: Scheduled<Void>?

    init(endpoints: MetricsServer.EndpointsBox, limits: MetricsServer.Limits, connections: MetricsServer.Connections, id: Int) {
        self.endpoints = endpoints
        self.limits = limits
        self.connections = connections
        self.id = id
    }

    func channelActive(context: ChannelHandlerContext) {
        expect(context, within: limits.requestTimeout)
        context.read()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        queue.removeAll()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            guard !refusing else { return }
            head = h
            bodyBytes = 0
        case .body(let chunk):
            guard !refusing, let h = head else { return }
            bodyBytes += chunk.readableBytes
            if bodyBytes > limits.maxBodyBytes {
                refusing = true
                head = nil
                enqueue(
                    context,
                    Request(
                        answer: { MetricsEndpoints.Answer(status: 413, body: "request body too large\n") },
                        version: h.version, keepAlive: false))
            }
        case .end:
            guard !refusing, let h = head else { return }
            head = nil
            let endpoints = self.endpoints
            let (method, uri) = (h.method.rawValue, h.uri)
            enqueue(
                context,
                Request(
                    answer: { endpoints.current.answer(method: method, uri: uri) }, version: h.version,
                    keepAlive: h.isKeepAlive, readsFiles: endpoints.current.readsFiles(method: method, uri: uri)))
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // More bytes are needed only to complete a request, and only while nothing waits to be answered.
        if !answering && queue.isEmpty && !refusing && !closing { context.read() }
        context.fireChannelReadComplete()
    }

    /// A request the decoder refused (answered 400 by NIO's error handler) or a broken connection: close it.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func enqueue(_ context: ChannelHandlerContext, _ request: Request) {
        // The request is complete: its deadline is met (while an answer is out, the deadline is the answer's).
        if !answering {
            deadline?.cancel()
            deadline = nil
        }
        guard queue.count < limits.maxQueuedRequests else {
            connections.count(overQueued: 1)
            closing = true
            queue.removeAll()
            context.close(promise: nil)
            return
        }
        queue.append(request)
        answerNext(context)
    }

    /// Writes the next answer unless one is still being taken by the client.
    private func answerNext(_ context: ChannelHandlerContext) {
        guard !answering, !queue.isEmpty, context.channel.isActive else { return }
        let request = queue.removeFirst()
        answering = true
        connections.enter(id, answering: true)
        guard request.readsFiles else {
            send(request.answer(), for: request, context)
            return
        }
        let made = context.eventLoop.makePromise(of: MetricsEndpoints.Answer.self)
        let answer = request.answer
        BlockingPool.shared.submit { made.succeed(answer()) }
        made.futureResult.assumeIsolated().whenSuccess { [self] answer in
            guard context.channel.isActive else {
                answering = false
                connections.enter(id, answering: false)
                return
            }
            send(answer, for: request, context)
        }
    }

    /// Writes `answer`, then goes on with the next request (or reads more).
    private func send(_ answer: MetricsEndpoints.Answer, for request: Request, _ context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.count))
        if let allow = answer.allow { headers.add(name: "Allow", value: allow) }
        if !request.keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if request.version.major == 1 && request.version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let head = HTTPResponseHead(
            version: request.version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
        let size = answer.body.count + 256
        connections.buffered(size)
        expect(context, within: limits.answerTimeout)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        written.assumeIsolated().whenComplete { [self] result in
            connections.buffered(-size)
            answering = false
            deadline?.cancel()
            deadline = nil
            connections.enter(id, answering: false)
            guard case .success = result, request.keepAlive, context.channel.isActive else {
                context.close(promise: nil)
                return
            }
            if !queue.isEmpty {
                answerNext(context)
            } else {
                expect(context, within: limits.idleTimeout)
                context.read()
            }
        }
    }

    /// Closes the connection unless the current phase ends within `timeout`.
    private func expect(_ context: ChannelHandlerContext, within timeout: TimeAmount) {
        deadline?.cancel()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            deadline = nil
            connections.count(timedOut: 1)
            closing = true
            context.close(promise: nil)
        }
    }
}
