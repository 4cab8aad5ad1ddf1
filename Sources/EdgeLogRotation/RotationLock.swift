import EdgeLogCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `<stateDirectory>/rotation.lock`, held (flock) for the length of a pass so `edgelog rotate` and the running
/// service never rotate the same files at once. Released when the descriptor is closed, also by a crash.
struct RotationLock: Sendable {
    static let fileName = "rotation.lock"
    let fd: Int32
    let ops: any FileOperations

    /// Takes the lock, or returns nil if another process holds it.
    static func acquire(stateDirectory: String, ops: any FileOperations) throws -> RotationLock? {
        try FileSystem.makeDirectories(stateDirectory, mode: 0o700)
        let folder = try ops.openRoot(stateDirectory)
        defer { ops.close(folder) }
        let fd = try ops.open(in: folder, fileName, flags: O_RDWR | O_CREAT, mode: 0o600)
        guard try ops.tryLock(fd) else {
            ops.close(fd)
            return nil
        }
        return RotationLock(fd: fd, ops: ops)
    }

    func release() { ops.close(fd) }
}
