#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The few file operations the pipeline needs, on plain syscalls (no Foundation), errno-safe.
public enum FileSystem {
    /// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never a mix:
    /// temp file in the same folder, fsync, rename, fsync of the folder. Private (0600) unless `mode` says
    /// otherwise: what EdgeLog writes holds log content and positions.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws {
        let dir = directory(of: path)
        let temp = "\(dir)/.tmp-\(basename(of: path))-\(getpid())"
        let fd = try syscallRetrying("open", path: temp) { open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        do {
            try writeAll(fd: fd, bytes, path: temp)
            try syscallRetrying("fsync", path: temp) { fsync(fd) }
            close(fd)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        do {
            try syscallRetrying("rename", path: path) { rename(temp, path) }
        } catch {
            unlink(temp)
            throw error
        }
        try syncDirectory(dir)
    }

    public static func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws {
        var written = 0
        while written < bytes.count {
            let n = try bytes.withUnsafeBytes { (buffer) throws -> Int in
                try syscallRetrying("write", path: path) {
                    write(fd, buffer.baseAddress! + written, buffer.count - written)
                }
            }
            written += n
        }
    }

    public static func syncDirectory(_ dir: String) throws {
        let fd = try syscallRetrying("open", path: dir) { open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try syscallRetrying("fsync", path: dir) { fsync(fd) }
    }

    /// The whole file, or nil if it does not exist.
    public static func read(_ path: String, limit: Int = 64 << 20) throws -> [UInt8]? {
        let fd: Int32
        do {
            fd = try syscallRetrying("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while result.count < limit {
            let n = try chunk.withUnsafeMutableBytes { (buffer) throws -> Int in
                try syscallRetrying("read", path: path) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    /// Creates `path` and its missing parents, private (0700) unless `mode` says otherwise.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws {
        var current = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw SystemError("mkdir", path: current, errno: errno)
            }
        }
    }

    /// Names in a folder (without `.` and `..`), or nil if the folder does not exist.
    public static func list(_ path: String) throws -> [String]? {
        guard let dir = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError("opendir", path: path, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw SystemError("unlink", path: path, errno: errno) }
    }

    /// lstat: nil if the path does not exist.
    public static func status(_ path: String) throws -> stat? {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError("lstat", path: path, errno: errno)
        }
        return st
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    public static func basename(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Seconds and nanoseconds of the wall clock.
    public static func now() -> (seconds: Int64, nanos: Int32) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int64(ts.tv_sec), Int32(ts.tv_nsec))
    }

    public static func nowMillis() -> Int64 {
        let n = now()
        return n.seconds * 1000 + Int64(n.nanos / 1_000_000)
    }
}
