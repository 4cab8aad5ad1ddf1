import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The few file operations the pipeline needs, on plain syscalls (no Foundation), errno-safe.
/// What EdgeLog writes is private: files 0600, folders 0700 unless a caller asks otherwise.
public enum FileSystem {
    /// Distinguishes the temporary files of writes running at the same time in this process.
    private static let temporaryCounter = Atomic<UInt64>(0)

    /// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never a mix:
    /// temp file in the same folder, fsync, rename, fsync of the folder. Every call has its own temp file
    /// (`.tmp-<name>-<pid>-<n>`, created O_EXCL), so two writes of the same path cannot mix their bytes: the
    /// last rename wins whole.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws {
        let dir = directory(of: path)
        let n = temporaryCounter.add(1, ordering: .relaxed).newValue
        let temp = "\(dir)/.tmp-\(basename(of: path))-\(getpid())-\(n)"
        let fd = try syscallRetrying("open", path: temp) {
            open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        }
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

    /// Whether `name` is the temporary file of an unfinished `writeAtomically` (safe to delete at a start).
    public static func isTemporary(_ name: String) -> Bool { name.hasPrefix(".tmp-") }

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

    /// A whole file of EdgeLog's own state, at most `maxBytes`; nil if it does not exist. A larger file is an
    /// error (EFBIG), not a silently cut one: whatever reads it would take a cut document for a valid one.
    public static func readState(_ path: String, maxBytes: Int) throws -> [UInt8]? {
        guard let bytes = try read(path, limit: maxBytes + 1) else { return nil }
        if bytes.count > maxBytes { throw SystemError("read", path: path, errno: EFBIG) }
        return bytes
    }

    /// Creates `path` and its missing parents (private folders by default; folders that exist are left alone).
    public static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws {
        var current = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw SystemError("mkdir", path: current, errno: errno)
            }
        }
    }

    /// Takes group and other permissions away from a folder EdgeLog owns (one an older version made 0755).
    /// A symbolic link is not followed. Returns true if the mode was changed.
    @discardableResult
    public static func makePrivate(directory path: String) throws -> Bool {
        guard let st = try status(path), st.st_mode & S_IFMT == S_IFDIR, st.st_mode & 0o077 != 0 else { return false }
        try syscallRetrying("chmod", path: path) { chmod(path, st.st_mode & 0o700) }
        return true
    }

    /// Names in a folder (without `.` and `..`), or nil if the folder does not exist.
    public static func list(_ path: String) throws -> [String]? {
        guard let dir = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError("opendir", path: path, errno: errno)
        }
        defer { closedir(dir) }
        return names(in: dir)
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
