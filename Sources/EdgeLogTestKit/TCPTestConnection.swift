import Foundation

/// A TCP connection to 127.0.0.1 for talking HTTP/1.1 to a server by hand: raw requests, responses read by
/// `Content-Length`, and whether the server closed the connection. Reads block a thread of their own (never one
/// of the concurrency pool, which an in-process server needs) and give up after `timeoutSeconds`.
/// Use it from one task at a time.
public final class TCPTestConnection: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// A parsed response.
    public struct Response: Sendable {
        public let status: Int
        /// Header names lower-cased.
        public let headers: [String: String]
        public let body: String
    }

    let fd: Int32
    private var pending: [UInt8] = []

    /// Connects; throws if nothing listens.
    public init(port: Int, timeoutSeconds: Int = 10) throws {
        fd = try Self.connectLoopback(port: port)
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// A blocking TCP socket connected to 127.0.0.1:`port`.
    public static func connectLoopback(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw Failure(description: "connect to 127.0.0.1:\(port): \(String(cString: strerror(e)))")
        }
        return fd
    }

    deinit { close(fd) }

    /// Sends `text` as it is.
    public func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes {
                Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    /// Sends `GET path` (or another method) with keep-alive unless `close`.
    public func request(_ method: String = "GET", _ path: String, close: Bool = false) async throws -> Response {
        try send("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(close ? "Connection: close\r\n" : "")\r\n")
        return try await readResponse()
    }

    /// Reads one response: the head, then `Content-Length` bytes of body.
    public func readResponse() async throws -> Response {
        try await onThread { try self.readResponseBlocking() }
    }

    /// True once the server has closed the connection (reads until end of file or the read timeout).
    public func closedByServer() async -> Bool {
        (try? await onThread { self.closedByServerBlocking() }) ?? false
    }

    /// One request on a fresh connection that is closed after it.
    public static func get(port: Int, _ path: String, method: String = "GET") async throws -> Response {
        try await TCPTestConnection(port: port).request(method, path, close: true)
    }

    /// Runs blocking work on a new thread.
    private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    private func readResponseBlocking() throws -> Response {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while true {
            if let i = find(separator, in: pending) {
                headEnd = i
                break
            }
            guard try fill() else { throw Failure(description: "connection closed before a response head") }
        }
        let head = String(decoding: pending[..<headEnd!], as: UTF8.self)
        pending.removeFirst(headEnd! + separator.count)
        let lines = head.components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw Failure(description: "bad status line \(lines[0])")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while pending.count < length {
            guard try fill() else { throw Failure(description: "connection closed inside a body") }
        }
        let body = String(decoding: pending[..<length], as: UTF8.self)
        pending.removeFirst(length)
        return Response(status: status, headers: headers, body: body)
    }

    private func closedByServerBlocking() -> Bool {
        while true {
            do {
                if !(try fill()) { return true }
            } catch {
                return false
            }
        }
    }

    /// Reads more; false at end of file.
    private func fill() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == ECONNRESET { return false }
            guard n >= 0 else { throw Failure(description: "recv: \(String(cString: strerror(errno)))") }
            if n == 0 { return false }
            pending.append(contentsOf: buffer[..<n])
            return true
        }
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }
}
