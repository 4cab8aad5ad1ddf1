import EdgeLogCore

#if canImport(Glibc)
    import Glibc
#endif

/// One blocking HTTP/1.1 GET over a plain socket, for `edgelog healthcheck` (no event loop, no HTTP library).
enum HealthcheckClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// GETs `path` from `host:port`; the status and the body (at most 64 KiB). A wildcard listen address
    /// (`0.0.0.0`, `::`, empty) is reached through loopback.
    static func get(host: String, port: Int, path: String, timeoutSeconds: Int = 5) throws -> (
        status: Int, body: String
    ) {
        let target: String
        switch host {
        case "", "0.0.0.0": target = "127.0.0.1"
        case "::", "[::]": target = "::1"
        default: target = host
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(target, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw Failure(description: "cannot resolve \(target): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // With SO_SNDTIMEO set, a blocking connect gives up after the timeout too (EINPROGRESS).
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw Failure(description: "cannot connect to \(target):\(port): \(String(cString: strerror(errno)))")
        }
        let request =
            "GET \(path) HTTP/1.1\r\nHost: \(target):\(port)\r\nUser-Agent: edgelog-healthcheck\r\nConnection: close\r\n\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw Failure(description: "cannot send to \(target):\(port): \(String(cString: strerror(errno)))")
            }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while response.count < 64 << 10 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                let reason = errno == EAGAIN ? "no answer within \(timeoutSeconds) s" : String(cString: strerror(errno))
                throw Failure(description: "reading from \(target):\(port): \(reason)")
            }
            if n == 0 { break }
            response.append(contentsOf: buffer[..<n])
        }
        return try parse(response, from: "\(target):\(port)")
    }

    /// Status line and body of a complete response (the server closes the connection after it).
    static func parse(_ response: [UInt8], from origin: String) throws -> (status: Int, body: String) {
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1."), let lineEnd = text.firstIndex(of: "\r\n") ?? text.firstIndex(of: "\n") else {
            throw Failure(description: "\(origin) did not answer HTTP")
        }
        let parts = text[..<lineEnd].split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw Failure(description: "\(origin) answered an invalid status line: \(text[..<lineEnd])")
        }
        let body = text.firstRange(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }
}
