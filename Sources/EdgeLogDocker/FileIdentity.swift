import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// Device, inode and a fingerprint of the first bytes: enough to tell a file from a new one that reuses its inode.
struct FileIdentity: Equatable {
    static let fingerprintBytes = 256

    var device: UInt64
    var inode: UInt64
    var fingerprint: UInt64
    var fingerprintLength: Int

    /// Reads the identity of an open file.
    static func of(fd: Int32) -> FileIdentity? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let (fp, length) = fingerprint(fd: fd, length: min(Int(st.st_size), fingerprintBytes))
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), fingerprint: fp, fingerprintLength: length)
    }

    /// FNV-1a over the first `length` bytes (fewer if the file is shorter).
    static func fingerprint(fd: Int32, length: Int) -> (UInt64, Int) {
        var buffer = [UInt8](repeating: 0, count: max(length, 1))
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, 0) }
        let got = max(0, n)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in buffer[0..<got] {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return (hash, got)
    }

    /// True if `fd` is the file this identity was taken from: same device and inode, same first bytes.
    func matches(fd: Int32) -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else { return false }
        return Self.fingerprint(fd: fd, length: fingerprintLength) == (fingerprint, fingerprintLength)
    }

    init(device: UInt64, inode: UInt64, fingerprint: UInt64, fingerprintLength: Int) {
        self.device = device
        self.inode = inode
        self.fingerprint = fingerprint
        self.fingerprintLength = fingerprintLength
    }

    init(_ position: FilePosition) {
        self.init(
            device: position.device, inode: position.inode, fingerprint: position.fingerprint,
            fingerprintLength: position.fingerprintLength)
    }

    func position(path: String, offset: Int64) -> FilePosition {
        FilePosition(
            path: path, device: device, inode: inode, fingerprint: fingerprint, fingerprintLength: fingerprintLength,
            offset: offset)
    }
}
