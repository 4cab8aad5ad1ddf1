import EdgeLogCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `FileOperations` on the real system calls: each one is Core's errno-safe `FileSystem` funnel.
public struct SystemFileOperations: FileOperations {
    public init() {}

    public func openRoot(_ path: String) throws(SystemError) -> Int32 {
        try FileSystem.openDescriptor(path, flags: O_RDONLY | O_DIRECTORY)
    }

    public func openDirectory(in directory: Int32, _ name: String) throws(SystemError) -> Int32 {
        try FileSystem.openDescriptor(in: directory, name, flags: O_RDONLY | O_DIRECTORY)
    }

    public func open(in directory: Int32, _ name: String, flags: Int32, mode: mode_t) throws(SystemError) -> Int32 {
        try FileSystem.openDescriptor(in: directory, name, flags: flags, mode: mode)
    }

    public func status(in directory: Int32, _ name: String) throws(SystemError) -> stat? {
        try FileSystem.status(in: directory, name)
    }

    public func status(_ fd: Int32) throws(SystemError) -> stat {
        try FileSystem.status(descriptor: fd)
    }

    public func list(_ directory: Int32) throws(SystemError) -> [String] {
        try FileSystem.list(directory: directory)
    }

    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try FileSystem.readSome(fd, into: buffer)
    }

    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        try FileSystem.readSome(fd, into: buffer, at: offset)
    }

    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        try FileSystem.writeSome(fd, bytes)
    }

    public func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        try FileSystem.writeSome(fd, bytes, at: offset)
    }

    public func copy(from source: Int32, at sourceOffset: Int64, to destination: Int32, at destinationOffset: Int64, count: Int)
        throws(SystemError) -> Int?
    {
        try FileSystem.copyInKernel(
            from: source, at: sourceOffset, to: destination, at: destinationOffset, count: count)
    }

    public func truncate(_ fd: Int32, to length: Int64) throws(SystemError) {
        try FileSystem.truncate(descriptor: fd, to: length)
    }

    public func sync(_ fd: Int32) throws(SystemError) {
        try FileSystem.sync(descriptor: fd)
    }

    public func setOwner(_ fd: Int32, uid: uid_t, gid: gid_t) throws(SystemError) {
        try FileSystem.setOwner(descriptor: fd, uid: uid, gid: gid)
    }

    public func setMode(_ fd: Int32, _ mode: mode_t) throws(SystemError) {
        try FileSystem.setMode(descriptor: fd, mode)
    }

    public func setTimes(_ fd: Int32, like source: stat) throws(SystemError) {
        try FileSystem.setTimes(descriptor: fd, like: source)
    }

    public func rename(in directory: Int32, _ from: String, to: String) throws(SystemError) {
        try FileSystem.renameWithoutReplacing(in: directory, from, to: to)
    }

    public func remove(in directory: Int32, _ name: String) throws(SystemError) {
        try FileSystem.remove(in: directory, name)
    }

    public func tryLock(_ fd: Int32) throws(SystemError) -> Bool {
        try FileSystem.tryLock(descriptor: fd)
    }

    public func close(_ fd: Int32) {
        FileSystem.closeDescriptor(fd)
    }
}
