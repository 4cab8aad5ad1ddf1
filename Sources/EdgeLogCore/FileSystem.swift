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

/// The descriptor-level system calls: the one errno-safe funnel every module's file I/O goes through (Docker's
/// chain files, rotation's `*at` operations, the inotify reader). Every call retries EINTR and throws a
/// `SystemError` naming the call and the path; none leaves a result unchecked.
extension FileSystem {
    /// open(2) of `path`; the descriptor is the caller's to close.
    public static func openDescriptor(_ path: String, flags: Int32, mode: mode_t = 0o600) throws(SystemError) -> Int32 {
        try syscallRetrying("open", path: path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// open(2) of an existing file; nil if it is not there (ENOENT) or is a symbolic link refused by O_NOFOLLOW
    /// (ELOOP).
    public static func openExisting(_ path: String, flags: Int32) throws(SystemError) -> Int32? {
        do {
            return try openDescriptor(path, flags: flags)
        } catch {
            if error.errno == ENOENT || error.errno == ELOOP { return nil }
            throw error
        }
    }

    /// openat(2) of `name` in the open folder `directory`, never through a symbolic link (O_NOFOLLOW).
    public static func openDescriptor(in directory: Int32, _ name: String, flags: Int32, mode: mode_t = 0)
        throws(SystemError) -> Int32
    {
        try syscallRetrying("open", path: name) { openat(directory, name, flags | O_NOFOLLOW | O_CLOEXEC, mode) }
    }

    public static func closeDescriptor(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// fstat(2).
    public static func status(descriptor fd: Int32, path: String = "") throws(SystemError) -> stat {
        var st = stat()
        try syscallRetrying("fstat", path: path) { fstat(fd, &st) }
        return st
    }

    /// lstat of `name` in the open folder `directory` (fstatat with AT_SYMLINK_NOFOLLOW); nil if it does not exist.
    public static func status(in directory: Int32, _ name: String) throws(SystemError) -> stat? {
        var st = stat()
        do {
            try syscallRetrying("lstat", path: name) { fstatat(directory, name, &st, AT_SYMLINK_NOFOLLOW) }
        } catch {
            if error.errno == ENOENT { return nil }
            throw error
        }
        return st
    }

    /// stat(2), following symbolic links: nil if the path (or a link's target) does not exist.
    public static func statusFollowingLinks(_ path: String) throws(SystemError) -> stat? {
        var st = stat()
        do {
            try syscallRetrying("stat", path: path) { stat(path, &st) }
        } catch {
            if error.errno == ENOENT || error.errno == ENOTDIR { return nil }
            throw error
        }
        return st
    }

    /// read(2) at the file position: the bytes read, 0 at the end.
    public static func readSome(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String = "")
        throws(SystemError) -> Int
    {
        try syscallRetrying("read", path: path) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// pread(2): the bytes read at `offset`, 0 at the end.
    public static func readSome(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String = ""
    ) throws(SystemError) -> Int {
        try syscallRetrying("pread", path: path) { pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// write(2) at the file position; may write less than asked.
    public static func writeSome(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String = "") throws(SystemError) -> Int {
        try syscallRetrying("write", path: path) { Glibc.write(fd, bytes.baseAddress, bytes.count) }
    }

    /// pwrite(2); may write less than asked.
    public static func writeSome(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: String = "")
        throws(SystemError) -> Int
    {
        try syscallRetrying("pwrite", path: path) { pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)) }
    }

    /// The names in the open folder `directory` (without `.` and `..`); the descriptor stays open and usable.
    public static func list(directory: Int32) throws(SystemError) -> [String] {
        let copy = try syscallRetrying("dup") { dup(directory) }
        guard let dir = fdopendir(copy) else {
            let code = errno
            _ = Glibc.close(copy)
            throw SystemError("fdopendir", errno: code)
        }
        defer { closedir(dir) }
        rewinddir(dir)
        return names(in: dir)
    }

    /// The readdir loop of `list(_:)` and `list(directory:)`.
    static func names(in dir: OpaquePointer) -> [String] {
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// ftruncate(2).
    public static func truncate(descriptor fd: Int32, to length: Int64, path: String = "") throws(SystemError) {
        try syscallRetrying("ftruncate", path: path) { ftruncate(fd, off_t(length)) }
    }

    /// fsync(2).
    public static func sync(descriptor fd: Int32, path: String = "") throws(SystemError) {
        try syscallRetrying("fsync", path: path) { fsync(fd) }
    }

    /// fchown(2).
    public static func setOwner(descriptor fd: Int32, uid: uid_t, gid: gid_t) throws(SystemError) {
        try syscallRetrying("fchown") { fchown(fd, uid, gid) }
    }

    /// fchmod(2).
    public static func setMode(descriptor fd: Int32, _ mode: mode_t) throws(SystemError) {
        try syscallRetrying("fchmod") { fchmod(fd, mode) }
    }

    /// futimens(2) with the access and modification times of `source`.
    public static func setTimes(descriptor fd: Int32, like source: stat) throws(SystemError) {
        var times = [source.st_atim, source.st_mtim]
        try syscallRetrying("futimens") { futimens(fd, &times) }
    }

    /// Renames `from` to `to` inside the open folder `directory`, failing with EEXIST rather than replacing `to`
    /// (renameat2 RENAME_NOREPLACE; where the kernel or filesystem lacks it, a checked renameat).
    public static func renameWithoutReplacing(in directory: Int32, _ from: String, to: String) throws(SystemError) {
        if let renameat2 = Kernel.renameat2 {
            while true {
                if renameat2(directory, from, directory, to, Kernel.renameNoReplace) == 0 { return }
                let code = errno
                if code == EINTR { continue }
                if code == EINVAL || code == ENOSYS { break }  // the filesystem cannot refuse to replace
                throw SystemError("rename", path: "\(from) to \(to)", errno: code)
            }
        }
        if try status(in: directory, to) != nil { throw SystemError("rename", path: "\(from) to \(to)", errno: EEXIST) }
        try syscallRetrying("rename", path: "\(from) to \(to)") { renameat(directory, from, directory, to) }
    }

    /// unlinkat(2) of a file in the open folder `directory` (a symlink itself is removed, never its target).
    public static func remove(in directory: Int32, _ name: String) throws(SystemError) {
        try syscallRetrying("unlink", path: name) { unlinkat(directory, name, 0) }
    }

    /// flock(2) LOCK_EX|LOCK_NB: false if another process holds it.
    public static func tryLock(descriptor fd: Int32) throws(SystemError) -> Bool {
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK { return false }
            throw SystemError("flock", errno: code)
        }
    }

    /// Copies up to `count` bytes from `source` at `sourceOffset` to `destination` at `destinationOffset` in the
    /// kernel (copy_file_range, else sendfile). Returns the bytes copied, 0 at the end of `source`, or nil if
    /// the kernel cannot copy between these two files (the caller then reads and writes).
    public static func copyInKernel(
        from source: Int32, at sourceOffset: Int64, to destination: Int32, at destinationOffset: Int64, count: Int
    ) throws(SystemError) -> Int? {
        if let copyFileRange = Kernel.copyFileRange {
            var inOffset = sourceOffset
            var outOffset = destinationOffset
            while true {
                let n = copyFileRange(source, &inOffset, destination, &outOffset, count, 0)
                if n >= 0 { return n }
                let code = errno
                if code == EINTR { continue }
                if Kernel.cannotCopy(code) { break }
                throw SystemError("copy_file_range", errno: code)
            }
        }
        // sendfile writes at the destination's file position.
        guard lseek(destination, off_t(destinationOffset), SEEK_SET) >= 0 else { return nil }
        var inOffset = off_t(sourceOffset)
        while true {
            let n = sendfile(destination, source, &inOffset, count)
            if n >= 0 { return n }
            let code = errno
            if code == EINTR { continue }
            if Kernel.cannotCopy(code) { return nil }
            throw SystemError("sendfile", errno: code)
        }
    }
}

/// Functions newer than what the C library headers show Swift, found with dlsym.
enum Kernel {
    typealias CopyFileRange = @convention(c) (
        Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32
    ) -> Int
    typealias Renameat2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32

    static let renameNoReplace: UInt32 = 1

    nonisolated(unsafe) private static let handle = dlopen(nil, RTLD_NOW)

    static let copyFileRange: CopyFileRange? = {
        guard let symbol = dlsym(handle, "copy_file_range") else { return nil }
        return unsafeBitCast(symbol, to: CopyFileRange.self)
    }()

    static let renameat2: Renameat2? = {
        guard let symbol = dlsym(handle, "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: Renameat2.self)
    }()

    /// errno values that mean "this kernel or filesystem cannot copy between these files", not a failure.
    static func cannotCopy(_ code: Int32) -> Bool {
        code == EXDEV || code == ENOSYS || code == EINVAL || code == EOPNOTSUPP || code == ENOTSUP
    }
}
