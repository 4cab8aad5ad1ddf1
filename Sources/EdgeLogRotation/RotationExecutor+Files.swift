import EdgeLogCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The executor's blocking steps on single files, run on the rotation thread.
extension RotationExecutor {
    static func renameLive(_ file: ManagedFile, to destination: String, folder: Int32, ops: any FileOperations) throws(RotationRefusal) -> Int64 {
        let st: stat?
        do throws(SystemError) { st = try ops.status(in: folder, file.name) } catch { throw RotationRefusal("cannot stat \(file.name): \(error)", error: error) }
        guard let st else { throw RotationRefusal("\(file.name) vanished before it could be rotated", error: SystemError("rename", path: file.name, errno: ENOENT)) }
        let type = st.st_mode & S_IFMT
        guard type != S_IFLNK else { throw RotationRefusal("\(file.name) is a symbolic link; not rotated") }
        guard type == S_IFREG else { throw RotationRefusal("\(file.name) is not a regular file; not rotated") }
        if file.inode != 0 && (UInt64(st.st_dev) != file.device || UInt64(st.st_ino) != file.inode) {
            throw RotationRefusal("\(file.name) was replaced since the scan; not rotated in this pass")
        }
        do throws(SystemError) { try ops.rename(in: folder, file.name, to: destination) } catch {
            throw RotationRefusal("cannot rename \(file.name) to \(destination): \(error)", error: error)
        }
        return Int64(st.st_size)
    }

    /// Removes a rotated file (a regular file only); returns its size, nil if it was already gone.
    static func delete(_ name: String, folder: Int32, ops: any FileOperations) throws(RotationRefusal) -> Int64? {
        do {
            guard let st = try ops.status(in: folder, name) else { return nil }
            guard (st.st_mode & S_IFMT) == S_IFREG else { throw RotationRefusal("\(name) is not a regular file; not removed") }
            try ops.remove(in: folder, name)
            return Int64(st.st_size)
        } catch let refusal as RotationRefusal {
            throw refusal
        } catch {
            throw RotationRefusal("cannot remove \(name): \(error)", error: error as? SystemError)
        }
    }

    /// Removes `plain` if `gz` is a gzip file whose length trailer (ISIZE, the input size mod 2^32) matches it.
    static func resolveDuplicate(plain: String, gz: String, folder: Int32, ops: any FileOperations) throws(RotationRefusal) -> Int64 {
        do {
            let fd = try ops.open(in: folder, gz, flags: O_RDONLY, mode: 0)
            defer { ops.close(fd) }
            let size = Int64(try ops.status(fd).st_size)
            var head = [UInt8](repeating: 0, count: 2)
            var tail = [UInt8](repeating: 0, count: 4)
            let h = try head.withUnsafeMutableBytes { (b) throws(SystemError) -> Int in try ops.read(fd, into: b, at: 0) }
            let t = size >= 18 ? try tail.withUnsafeMutableBytes { (b) throws(SystemError) -> Int in try ops.read(fd, into: b, at: size - 4) } : 0
            guard let st = try ops.status(in: folder, plain), (st.st_mode & S_IFMT) == S_IFREG else { return 0 }
            let isize = UInt32(tail[0]) | UInt32(tail[1]) << 8 | UInt32(tail[2]) << 16 | UInt32(tail[3]) << 24
            guard h == 2, head == [0x1F, 0x8B], t == 4, isize == UInt32(truncatingIfNeeded: st.st_size) else {
                throw RotationRefusal("both \(plain) and \(gz) exist and \(gz) does not hold \(plain); both are left for you to sort out")
            }
            try ops.remove(in: folder, plain)
            return Int64(st.st_size)
        } catch let refusal as RotationRefusal {
            throw refusal
        } catch {
            throw RotationRefusal("cannot check \(gz) against \(plain): \(error)", error: error as? SystemError)
        }
    }
}
