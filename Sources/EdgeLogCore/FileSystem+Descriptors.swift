#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
