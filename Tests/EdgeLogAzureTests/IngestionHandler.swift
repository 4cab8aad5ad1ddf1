import EdgeLogCore
import EdgeLogGzip
import NIOCore
import NIOHTTP1

/// One connection of `IngestionServer`: collects a request, checks it against the contract, answers.
final class IngestionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: @Sendable () -> IngestionServer
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(server: @escaping @Sendable () -> IngestionServer) { self.server = server }

    enum Action {
        case answer(Int, [(String, String)], String, delay: Duration?)
        case close
        /// A body that does not end (see `IngestionServer.Fault.endless`).
        case endless(Int, chunkBytes: Int, every: Duration?, upTo: Int)
        /// 204 for the stored call `call`; if the client is gone before the answer is written, the call was not
        /// acknowledged (the client will send it again).
        case stored(call: Int)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h) where h.method == .CONNECT:
            // A proxy's first request: kept for the proxy test, refused.
            server().state.withLock { $0.connects.append((h.uri, h.headers.map { ($0.name, $0.value) })) }
            let response = HTTPResponseHead(version: .http1_1, status: .forbidden, headers: ["Content-Length": "0"])
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            let closing = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in closing.value.close(promise: nil) }
        case .head(let h):
            head = h
            body = []
        case .body(var buffer):
            if body.count < 4 << 20 { body += buffer.readBytes(length: buffer.readableBytes) ?? [] }
        case .end:
            guard let head else { return }
            let request = (head, body)
            self.head = nil
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let server = server()
            if head.uri.hasPrefix("/dataCollectionRules/") {
                server.state.withLock {
                    $0.inFlight += 1
                    $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
                }
                let started = ContinuousClock.now
                holdThenAnswer(bound, server, request, started)
            } else {
                perform(bound.value, server.route(request.0, request.1), ingest: false)
            }
        }
    }

    /// Concurrency check: keep a call until enough are in flight (at most 2 s).
    private func holdThenAnswer(
        _ bound: NIOLoopBound<ChannelHandlerContext>, _ server: IngestionServer, _ request: (HTTPRequestHead, [UInt8]),
        _ started: ContinuousClock.Instant
    ) {
        let wait = server.state.withLock { s in s.holdUntilInFlight.map { s.inFlight < $0 } ?? false }
        if wait && ContinuousClock.now - started < .seconds(2) {
            let me = NIOLoopBound(self, eventLoop: bound.value.eventLoop)
            bound.value.eventLoop.scheduleTask(in: .milliseconds(5)) {
                me.value.holdThenAnswer(bound, server, request, started)
            }
            return
        }
        perform(bound.value, server.route(request.0, request.1), ingest: true)
    }

    private func perform(_ context: ChannelHandlerContext, _ action: Action, ingest: Bool) {
        let done: @Sendable () -> Void = { [server] in
            if ingest { server().state.withLock { $0.inFlight -= 1 } }
        }
        switch action {
        case .close:
            done()
            context.close(promise: nil)
        case .stored(let call):
            let head = HTTPResponseHead(version: .http1_1, status: .noContent, headers: ["Content-Length": "0"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            let server = server()
            let answered = context.channel.isActive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { result in
                if case .failure = result { server.unacknowledge(call: call) }
            }
            if !answered { server.unacknowledge(call: call) }
            done()
        case .endless(let status, let chunkBytes, let every, let upTo):
            done()
            let head = HTTPResponseHead(
                version: .http1_1, status: HTTPResponseStatus(statusCode: status),
                headers: ["Content-Type": "application/json"])
            context.writeAndFlush(wrapOutboundOut(.head(head)), promise: nil)
            sendEndless(
                NIOLoopBound(context, eventLoop: context.eventLoop), server: server(), chunk: chunkBytes, every: every,
                left: upTo)
        case .answer(let status, let headers, let text, let delay):
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            let me = NIOLoopBound(self, eventLoop: context.eventLoop)
            let send: @Sendable () -> Void = {
                let context = bound.value
                let handler = me.value
                var h = HTTPHeaders(headers)
                h.add(name: "Content-Length", value: String(text.utf8.count))
                if !text.isEmpty { h.add(name: "Content-Type", value: "application/json") }
                let head = HTTPResponseHead(
                    version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: h)
                context.write(handler.wrapOutboundOut(.head(head)), promise: nil)
                if !text.isEmpty {
                    context.write(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                }
                context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
                done()
            }
            if let delay {
                let ns = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
                context.eventLoop.scheduleTask(in: .nanoseconds(ns)) { send() }
            } else {
                send()
            }
        }
    }
}

extension IngestionHandler {
    /// One more piece of an endless body, then the next (after `every`, or once this one is written).
    fileprivate func sendEndless(
        _ bound: NIOLoopBound<ChannelHandlerContext>, server: IngestionServer, chunk: Int, every: Duration?, left: Int
    ) {
        let context = bound.value
        guard context.channel.isActive else {
            server.state.withLock { $0.endless.abandonedByClient += 1 }
            return
        }
        guard left > 0 else {
            server.state.withLock { $0.endless.completed += 1 }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        let size = min(chunk, left)
        let piece = ByteBuffer(repeating: UInt8(ascii: " "), count: size)
        let me = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(piece)))).whenComplete { result in
            guard case .success = result else {
                server.state.withLock { $0.endless.abandonedByClient += 1 }
                return
            }
            server.state.withLock { $0.endless.bytesWritten += size }
            if let every {
                let ns = every.components.seconds * 1_000_000_000 + every.components.attoseconds / 1_000_000_000
                bound.value.eventLoop.scheduleTask(in: .nanoseconds(ns)) {
                    me.value.sendEndless(bound, server: server, chunk: chunk, every: every, left: left - size)
                }
            } else {
                // On the next turn of the loop: a write that completes at once would recurse otherwise.
                bound.value.eventLoop.execute {
                    me.value.sendEndless(bound, server: server, chunk: chunk, every: every, left: left - size)
                }
            }
        }
    }
}

extension IngestionServer {
    func route(_ head: HTTPRequestHead, _ body: [UInt8]) -> IngestionHandler.Action {
        let (path, query) = Self.split(head.uri)
        if head.method == .POST, path == "/\(Self.tenant)/oauth2/v2.0/token" { return token(head, body) }
        if head.method == .POST, path == "/collect" { return collect(head, body) }
        let prefix = "/dataCollectionRules/"
        if head.method == .POST, path.hasPrefix(prefix) {
            let parts = path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false).map(
                String.init)
            if parts.count == 3, parts[1] == "streams" {
                return ingest(head, body, dcr: parts[0], stream: parts[2], query: query)
            }
        }
        return .answer(404, [], Self.error("NotFound", "no such route \(path)"), delay: nil)
    }

    private func token(_ head: HTTPRequestHead, _ body: [UInt8]) -> IngestionHandler.Action {
        let (lifetime, failure, fault) = state.withLock { s -> (Int, Int?, Fault?) in
            s.tokenRequests += 1
            defer { s.tokenFault = nil }
            return (s.tokenLifetime, s.tokenFailure, s.tokenFault)
        }
        if case .endless(let status, let chunk, let every, let upTo)? = fault {
            return .endless(status, chunkBytes: chunk, every: every, upTo: upTo)
        }
        guard head.headers["Content-Type"].first?.hasPrefix("application/x-www-form-urlencoded") == true else {
            return .answer(
                400, [], "{\"error\":\"invalid_request\",\"error_description\":\"Content-Type\"}", delay: nil)
        }
        let form = Self.form(String(decoding: body, as: UTF8.self))
        if let failure {
            return .answer(failure, [("Retry-After", "1")], "{\"error\":\"temporarily_unavailable\"}", delay: nil)
        }
        guard form["client_id"] == Self.clientId, form["client_secret"] == Self.clientSecret else {
            return .answer(
                401, [],
                "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret provided.\\r\\nTrace ID: x\"}",
                delay: nil)
        }
        guard form["grant_type"] == "client_credentials", form["scope"] == "https://monitor.azure.com//.default" else {
            return .answer(
                400, [], "{\"error\":\"invalid_request\",\"error_description\":\"grant_type or scope\"}", delay: nil)
        }
        let token = RequestIDLike.make()
        state.withLock { $0.tokens[token] = .now + .seconds(lifetime) }
        return .answer(
            200, [],
            "{\"token_type\":\"Bearer\",\"expires_in\":\(lifetime),\"ext_expires_in\":\(lifetime),\"access_token\":\"\(token)\"}",
            delay: nil)
    }

    private func ingest(_ head: HTTPRequestHead, _ raw: [UInt8], dcr: String, stream: String, query: [String: String])
        -> IngestionHandler.Action
    {
        var fault: Fault? = state.withLock { s in
            s.callTimes.append(.now)
            return s.outage ?? (s.faults.isEmpty ? nil : s.faults.removeFirst())
        }
        if case .revokeTokens = fault {
            state.withLock { $0.tokens.removeAll() }
            fault = nil
        }
        func reject(_ status: Int, _ code: String, _ message: String, _ headers: [(String, String)] = [])
            -> IngestionHandler.Action
        {
            state.withLock { $0.statuses[status, default: 0] += 1 }
            return .answer(status, headers, Self.error(code, message), delay: nil)
        }
        guard query["api-version"] == "2023-01-01" else { return reject(400, "InvalidApiVersion", "api-version") }
        let auth = head.headers["Authorization"].first ?? ""
        let valid = state.withLock { s in
            auth.hasPrefix("Bearer ") && (s.tokens[String(auth.dropFirst(7))].map { $0 > .now } ?? false)
        }
        guard valid else { return reject(401, "InvalidToken", "token invalid or expired") }
        guard dcr == Self.dcr else { return reject(404, "NotFound", "data collection rule \(dcr) not found") }
        guard stream == Self.stream else { return reject(404, "InvalidStream", "stream \(stream) not declared") }
        guard head.headers["Content-Type"].first?.hasPrefix("application/json") == true else {
            return reject(415, "UnsupportedMediaType", "Content-Type")
        }
        guard head.headers["Content-Encoding"].first == "gzip" else {
            return reject(400, "InvalidContentEncoding", "gzip expected")
        }
        let requestId = head.headers["x-ms-client-request-id"].first ?? ""
        guard SinkSettings.isGUID(requestId) else { return reject(400, "InvalidRequestId", "x-ms-client-request-id") }
        state.withLock { $0.requestIds.append(requestId) }
        guard raw.count <= Self.maxBytes else {
            return reject(413, "ContentLengthLimitExceeded", "compressed call over 1 MB")
        }
        guard let data = try? Gzip.decompress(raw) else { return reject(400, "InvalidContentEncoding", "not gzip") }
        guard data.count <= Self.maxBytes else {
            return reject(413, "ContentLengthLimitExceeded", "call over 1 MB after decoding")
        }
        guard let doc = try? JSONParser.parse(data), let array = doc.arrayValue, !array.isEmpty,
            array.allSatisfy({ $0.objectValue != nil })
        else { return reject(400, "InvalidPayload", "body must be a non-empty JSON array of objects") }
        switch fault {
        case .status(let status, let retryAfter, let body)?:
            state.withLock { $0.statuses[status, default: 0] += 1 }
            return .answer(status, retryAfter.map { [("Retry-After", $0)] } ?? [], body, delay: nil)
        case .resetBeforeStore?:
            return .close
        case .resetAfterStore?:
            store(array, acknowledged: false)
            return .close
        case .slow(let delay)?:
            store(array, acknowledged: false)
            return .answer(204, [], "", delay: delay)
        case .endless(let status, let chunk, let every, let upTo)?:
            state.withLock { $0.statuses[status, default: 0] += 1 }
            return .endless(status, chunkBytes: chunk, every: every, upTo: upTo)
        case .revokeTokens?, nil:
            let call = store(array, acknowledged: true)
            state.withLock { $0.statuses[204, default: 0] += 1 }
            return .stored(call: call)
        }
    }

    /// The generic http sink's target: gzip JSON array or NDJSON, any headers (kept for the test).
    private func collect(_ head: HTTPRequestHead, _ raw: [UInt8]) -> IngestionHandler.Action {
        let fault: Fault? = state.withLock { s in
            s.collectorHeaders.append(head.headers.map { ($0.name, $0.value) })
            return s.faults.isEmpty ? nil : s.faults.removeFirst()
        }
        if case .status(let status, let retryAfter, let body)? = fault {
            return .answer(status, retryAfter.map { [("Retry-After", $0)] } ?? [], body, delay: nil)
        }
        if case .endless(let status, let chunk, let every, let upTo)? = fault {
            return .endless(status, chunkBytes: chunk, every: every, upTo: upTo)
        }
        guard head.headers["Content-Encoding"].first == "gzip", let data = try? Gzip.decompress(raw) else {
            return .answer(400, [], Self.error("Encoding", "gzip expected"), delay: nil)
        }
        var records: [JSONValue] = []
        if head.headers["Content-Type"].first == "application/x-ndjson" {
            for line in data.split(separator: 0x0A) {
                guard let r = try? JSONParser.parse(Array(line)) else {
                    return .answer(400, [], "bad line", delay: nil)
                }
                records.append(r)
            }
        } else {
            guard let a = (try? JSONParser.parse(data))?.arrayValue else {
                return .answer(400, [], "bad array", delay: nil)
            }
            records = a
        }
        store(records, acknowledged: true)
        return .answer(200, [], "", delay: nil)
    }

    @discardableResult
    private func store(_ records: [JSONValue], acknowledged: Bool) -> Int {
        state.withLock {
            $0.calls.append(Call(records: records, acknowledged: acknowledged))
            return $0.calls.count - 1
        }
    }

    /// The client never got the answer to `call`.
    func unacknowledge(call: Int) {
        state.withLock { $0.calls[call].acknowledged = false }
    }

    static func error(_ code: String, _ message: String) -> String {
        "{\"error\":{\"code\":\"\(code)\",\"message\":\"\(message)\"}}"
    }

    static func split(_ uri: String) -> (String, [String: String]) {
        guard let q = uri.firstIndex(of: "?") else { return (uri, [:]) }
        return (String(uri[..<q]), form(String(uri[uri.index(after: q)...])))
    }

    static func form(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                decode($0.split(separator: "+", omittingEmptySubsequences: false).joined(separator: " "))
            }
            result[kv[0]] = kv.count > 1 ? kv[1] : ""
        }
        return result
    }

    static func decode(_ s: String) -> String {
        var out: [UInt8] = []
        var it = s.utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%"), let h = it.next(), let l = it.next(),
                let v = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)
            {
                out.append(v)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Random opaque tokens for the stand-in.
enum RequestIDLike {
    static func make() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(UInt8.random(in: 0...15, using: &g), radix: 16) }.joined()
    }
}
