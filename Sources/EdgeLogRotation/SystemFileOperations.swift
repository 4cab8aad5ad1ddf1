import EdgeLogCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `FileOperations` on the real system calls. copy_file_range and renameat2 are looked up at run time (the C
/// library may lack them); without them it falls back to sendfile, and to a checked renameat.
public struct SystemFileOperations: FileOperations {
    public init() {}

    public func openRoot(_ path: String) throws(SystemError) -> Int32 {
        try syscallRetrying("open", path: path) { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    }

    public func openDirectory(in directory: Int32, _ name: String) throws(SystemError) -> Int32 {
        try syscallRetrying("open", path: name) {
            openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
    }

    public func open(in directory: Int32, _ name: String, flags: Int32, mode: mode_t) throws(SystemError) -> Int32 {
        try syscallRetrying("open", path: name) { openat(directory, name, flags | O_NOFOLLOW | O_CLOEXEC, mode) }
    }

    public func status(in directory: Int32, _ name: String) throws(SystemError) -> stat? {
        var st = stat()
        if fstatat(directory, name, &st, AT_SYMLINK_NOFOLLOW) != 0 {
            if errno == ENOENT { return nil }
            throw SystemError("lstat", path: name, errno: errno)
        }
        return st
    }

    public func status(_ fd: Int32) throws(SystemError) -> stat {
        var st = stat()
        try syscallRetrying("fstat") { fstat(fd, &st) }
        return st
    }

    public func list(_ directory: Int32) throws(SystemError) -> [String] {
        let copy = try syscallRetrying("dup") { dup(directory) }
        guard let dir = fdopendir(copy) else {
            let code = errno
            Glibc.close(copy)
            throw SystemError("fdopendir", errno: code)
        }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try syscallRetrying("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        try syscallRetrying("pread") { pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        try syscallRetrying("write") { Glibc.write(fd, bytes.baseAddress, bytes.count) }
    }

    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        try syscallRetrying("pwrite") { pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset)) }
    }

    public func copy(from source: Int32, at sourceOffset: Int64, to destination: Int32, at destinationOffset: Int64, count: Int)
        throws(SystemError) -> Int?
    {
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

    public func truncate(_ fd: Int32, to length: Int64) throws(SystemError) {
        try syscallRetrying("ftruncate") { ftruncate(fd, off_t(length)) }
    }

    public func sync(_ fd: Int32) throws(SystemError) {
        try syscallRetrying("fsync") { fsync(fd) }
    }

    public func setOwner(_ fd: Int32, uid: uid_t, gid: gid_t) throws(SystemError) {
        try syscallRetrying("fchown") { fchown(fd, uid, gid) }
    }

    public func setMode(_ fd: Int32, _ mode: mode_t) throws(SystemError) {
        try syscallRetrying("fchmod") { fchmod(fd, mode) }
    }

    public func setTimes(_ fd: Int32, like source: stat) throws(SystemError) {
        var times = [source.st_atim, source.st_mtim]
        try syscallRetrying("futimens") { futimens(fd, &times) }
    }

    public func rename(in directory: Int32, _ from: String, to: String) throws(SystemError) {
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

    public func remove(in directory: Int32, _ name: String) throws(SystemError) {
        try syscallRetrying("unlink", path: name) { unlinkat(directory, name, 0) }
    }

    public func tryLock(_ fd: Int32) throws(SystemError) -> Bool {
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK { return false }
            throw SystemError("flock", errno: code)
        }
    }

    public func close(_ fd: Int32) {
        _ = Glibc.close(fd)
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
