import Foundation

/// A plain TCP client to 127.0.0.1 that sends without blocking and never reads unless asked.
public final class RawTCPClient: @unchecked Sendable {
    public let fd: Int32

    public init(port: Int) throws {
        fd = try TCPTestConnection.connectLoopback(port: port)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { close(fd) }

    /// Sends what the socket takes now; returns how many bytes (stops at the first would-block or error).
    public func sendAvailable(_ bytes: [UInt8]) -> Int {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            sent += n
        }
        return sent
    }

    /// True if the peer closed the connection (end of file or reset), reading and discarding what is there.
    public func peerClosed() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { continue }
            if n == 0 { return true }
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
        }
    }
}
