#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, on what, and errno with its text.
public struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
    public let call: String
    public let path: String
    public let errno: Int32

    public init(_ call: String, path: String = "", errno: Int32) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let text = String(cString: strerror(errno))
        return path.isEmpty ? "\(call): \(text) (errno \(errno))" : "\(call) \(path): \(text) (errno \(errno))"
    }

    /// The disk (or quota) is full.
    public var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }
    public var isNotFound: Bool { errno == ENOENT }
}

/// Runs a system call again while it fails with EINTR; throws its errno otherwise.
@discardableResult
@inline(__always)
public func syscallRetrying<T: BinaryInteger>(_ call: String, path: String = "", _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(call, path: path, errno: code)
    }
}
