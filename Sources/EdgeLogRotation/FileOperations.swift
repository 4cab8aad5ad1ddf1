import EdgeLogCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The few system calls rotation makes, behind a protocol so tests can inject a failing write (ENOSPC), a
/// vanishing file or a permission error. Names are single path components resolved in an open folder
/// (`*at` calls), so nothing is ever resolved through a symbolic link below a rotation root.
public protocol FileOperations: Sendable {
    /// Opens a rotation root (an absolute folder path configured by the admin; it may be a symlink itself).
    func openRoot(_ path: String) throws(SystemError) -> Int32
    /// Opens the subfolder `name` of `directory`, refusing a symbolic link (O_NOFOLLOW).
    func openDirectory(in directory: Int32, _ name: String) throws(SystemError) -> Int32
    /// Opens `name` in `directory` with `flags` plus O_NOFOLLOW and O_CLOEXEC.
    func open(in directory: Int32, _ name: String, flags: Int32, mode: mode_t) throws(SystemError) -> Int32
    /// lstat of `name` in `directory` (fstatat with AT_SYMLINK_NOFOLLOW); nil if it does not exist.
    func status(in directory: Int32, _ name: String) throws(SystemError) -> stat?
    /// fstat.
    func status(_ fd: Int32) throws(SystemError) -> stat
    /// The names in an open folder, without `.` and `..`.
    func list(_ directory: Int32) throws(SystemError) -> [String]
    /// read(2) at the file position.
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int
    /// pread(2).
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int
    /// write(2) at the file position; may write less than asked.
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int
    /// pwrite(2); may write less than asked.
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) -> Int
    /// Copies up to `count` bytes from `source` at `sourceOffset` to `destination` at `destinationOffset` in the
    /// kernel (copy_file_range, else sendfile). Returns the bytes copied, 0 at the end of `source`, or nil if
    /// the kernel cannot copy between these two files (the caller then reads and writes).
    func copy(from source: Int32, at sourceOffset: Int64, to destination: Int32, at destinationOffset: Int64, count: Int)
        throws(SystemError) -> Int?
    /// ftruncate(2).
    func truncate(_ fd: Int32, to length: Int64) throws(SystemError)
    /// fsync(2).
    func sync(_ fd: Int32) throws(SystemError)
    /// fchown(2).
    func setOwner(_ fd: Int32, uid: uid_t, gid: gid_t) throws(SystemError)
    /// fchmod(2).
    func setMode(_ fd: Int32, _ mode: mode_t) throws(SystemError)
    /// futimens(2) with the access and modification times of `source`.
    func setTimes(_ fd: Int32, like source: stat) throws(SystemError)
    /// Renames `from` to `to` inside `directory`, failing with EEXIST rather than replacing `to`.
    func rename(in directory: Int32, _ from: String, to: String) throws(SystemError)
    /// unlinkat(2) of a file (a symlink itself is removed, never its target).
    func remove(in directory: Int32, _ name: String) throws(SystemError)
    /// flock(2) LOCK_EX|LOCK_NB: false if another process holds it.
    func tryLock(_ fd: Int32) throws(SystemError) -> Bool
    /// close(2).
    func close(_ fd: Int32)
}

extension FileOperations {
    /// Writes all of `bytes` at the file position.
    public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            done += try write(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]))
        }
    }

    /// Writes all of `bytes` at `offset`.
    public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            done += try write(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]), at: offset + Int64(done))
        }
    }
}
