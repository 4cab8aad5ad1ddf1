import EdgeLogCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A small tmpfs mounted for one test: a real file system that really fills up (ENOSPC), then has room again.
/// Mounting needs root (CAP_SYS_ADMIN); `available` says whether this machine allows it, so a test can be
/// skipped with its reason where it does not (the project's CI runs as root).
public final class SmallFileSystem: @unchecked Sendable {
    public let path: String
    private let holder: TemporaryDirectory
    private var fillers: [String] = []

    /// Whether a tmpfs can be mounted here (tried once).
    public static let available: Bool = {
        guard geteuid() == 0 else { return false }
        return (try? SmallFileSystem(bytes: 1 << 20)) != nil
    }()

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Mounts a tmpfs of `bytes` (private to root: mode 0700).
    public init(bytes: Int) throws {
        holder = TemporaryDirectory(prefix: "edgelog-tmpfs")
        path = holder.path + "/fs"
        guard mkdir(path, 0o700) == 0 else { throw Failure(description: "mkdir \(path): errno \(errno)") }
        guard Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(bytes),mode=0700") == 0 else {
            let code = errno
            rmdir(path)
            throw Failure(description: "mount tmpfs on \(path): \(String(cString: strerror(code)))")
        }
    }

    deinit {
        umount2(path, Int32(MNT_DETACH))
        rmdir(path)
    }

    /// Free bytes now.
    public var freeBytes: Int64 {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return 0 }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }

    /// Writes filler files until the file system is full (the last write fails with ENOSPC).
    public func fill() throws {
        let name = path + "/filler-\(fillers.count)"
        let fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw Failure(description: "open \(name): errno \(errno)") }
        defer { close(fd) }
        fillers.append(name)
        let chunk = [UInt8](repeating: 0x5A, count: 4096)
        while true {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOSPC { return }
                throw Failure(description: "write \(name): errno \(errno)")
            }
            if n < chunk.count {
                // A short write: the last pages; the next write reports ENOSPC.
                continue
            }
        }
    }

    /// Deletes the filler files: the room is back.
    public func free() {
        for name in fillers { unlink(name) }
        fillers.removeAll()
    }
}
