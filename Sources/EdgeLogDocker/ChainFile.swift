import EdgeLogCore
import EdgeLogGzip

#if canImport(Glibc)
import Glibc
#endif

/// An open file of a rotation chain: plain (read with pread at any offset) or gzip (inflated in order; offsets are
/// those of the plain content). Holding the descriptor keeps the content readable after dockerd renames it,
/// compresses it (a new file) or deletes it. Owned by one thread at a time: the chain while it waits, then the
/// tailer that reads it.
final class ChainFile: @unchecked Sendable {
    let fd: Int32
    /// The path it was opened by (a rotated file may have moved on since).
    let path: String
    let compressed: Bool
    /// Length-framed entries (the `local` driver): the fingerprint covers the first entry, not the first line.
    let framed: Bool
    var identity: FileIdentity
    /// Why a compressed file could not be read to its end, once that happened.
    private(set) var damage: String?

    // Inflation state of a compressed file.
    private var inflater: GzipInflater?
    private var input: [UInt8] = []
    private var inputStart = 0
    private var inputEnd = 0
    private var compressedOffset: Int64 = 0
    private var plainOffset: Int64 = 0
    private var inputEnded = false

    private init(fd: Int32, path: String, compressed: Bool, framed: Bool, identity: FileIdentity) {
        self.fd = fd
        self.path = path
        self.compressed = compressed
        self.framed = framed
        self.identity = identity
    }

    deinit { FileSystem.closeDescriptor(fd) }

    /// Opens `path` (never through a symlink); nil if it is not there (any more) or not a regular file.
    static func open(_ path: String, compressed: Bool, framed: Bool = false) throws(SystemError) -> ChainFile? {
        guard let fd = try FileSystem.openExisting(path, flags: O_RDONLY | O_NOFOLLOW) else { return nil }
        let st: stat
        do {
            st = try FileSystem.status(descriptor: fd, path: path)
        } catch {
            FileSystem.closeDescriptor(fd)
            throw error
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            FileSystem.closeDescriptor(fd)
            return nil
        }
        let file = ChainFile(
            fd: fd, path: path, compressed: compressed, framed: framed,
            identity: FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), fingerprint: 0, fingerprintLength: 0))
        file.refreshIdentity()
        return file
    }

    /// Takes the content fingerprint again (a file that was empty or held only part of its first line).
    func refreshIdentity() {
        let head = self.head(FileIdentity.fingerprintBytes)
        let device = identity.device
        let inode = identity.inode
        let framed = self.framed
        identity = head.withUnsafeBufferPointer { FileIdentity(device: device, inode: inode, head: $0, framed: framed) }
    }

    /// fstat of the open file; nil if that fails (which it does not for an open descriptor but on I/O errors).
    func status() -> stat? {
        try? FileSystem.status(descriptor: fd, path: path)
    }

    /// True once no name in any folder refers to the file any more (dockerd deleted it).
    var isDeleted: Bool { status().map { $0.st_nlink == 0 } ?? false }

    /// Size of the plain content: the file's size, or for a compressed file the size its gzip trailer records
    /// (modulo 4 GiB, like gzip's own). Nil if unknown.
    func plainSize() -> Int64? {
        guard let st = status() else { return nil }
        let size = Int64(st.st_size)
        guard compressed else { return size }
        guard size >= 18 else { return nil }
        var trailer = [UInt8](repeating: 0, count: 4)
        let n = trailer.withUnsafeMutableBytes { b in
            (try? FileSystem.readSome(fd, into: b, at: size - 4, path: path)) ?? -1
        }
        guard n == 4 else { return nil }
        return Int64(trailer[0]) | Int64(trailer[1]) << 8 | Int64(trailer[2]) << 16 | Int64(trailer[3]) << 24
    }

    /// Reads plain content at `offset` into `buffer`; 0 at the end. A compressed file is inflated in order
    /// (reading backwards starts it over).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        guard compressed else {
            return try FileSystem.readSome(fd, into: buffer, at: offset, path: path)
        }
        if offset < plainOffset || inflater == nil { restartInflation() }
        guard inflater != nil else { return 0 }
        // Skip forward to `offset` (a restart in the middle of a compressed file).
        while plainOffset < offset {
            let want = Int(min(Int64(buffer.count), offset - plainOffset))
            let got = inflate(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
            if got == 0 { return 0 }
            plainOffset += Int64(got)
        }
        let got = inflate(into: buffer)
        plainOffset += Int64(got)
        return got
    }

    private func restartInflation() {
        inflater = try? GzipInflater()
        if inflater == nil { damage = "cannot start zlib" }
        if input.isEmpty { input = [UInt8](repeating: 0, count: 64 * 1024) }
        inputStart = 0
        inputEnd = 0
        compressedOffset = 0
        plainOffset = 0
        inputEnded = false
    }

    /// Inflates up to `buffer.count` bytes; 0 at the end of the compressed data (or if it is damaged).
    private func inflate(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let inflater, damage == nil else { return 0 }
        var produced = 0
        while produced < buffer.count {
            if inputStart == inputEnd {
                if inputEnded { break }
                let n = input.withUnsafeMutableBytes { b in
                    (try? FileSystem.readSome(fd, into: b, at: compressedOffset, path: path)) ?? -1
                }
                if n < 0 {
                    damage = "read error"
                    break
                }
                if n == 0 {
                    inputEnded = true
                    if !inflater.atMemberEnd { damage = "the compressed data ends early" }
                    break
                }
                compressedOffset += Int64(n)
                inputStart = 0
                inputEnd = n
            }
            let result: (consumed: Int, produced: Int)
            do {
                result = try input.withUnsafeBytes { i in
                    try inflater.inflate(
                        UnsafeRawBufferPointer(rebasing: i[inputStart..<inputEnd]),
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[produced...]))
                }
            } catch {
                damage = "\(error)"
                break
            }
            inputStart += result.consumed
            produced += result.produced
            if result.consumed == 0 && result.produced == 0 { break }
        }
        return produced
    }

    /// The first `count` bytes of the plain content (fewer if it is shorter).
    func head(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        if compressed {
            // A separate inflation: the reading position of this file is left alone.
            guard let inflater = try? GzipInflater() else { return [] }
            var inputBuffer = [UInt8](repeating: 0, count: 16 * 1024)
            var at: Int64 = 0
            while got < count {
                let n = inputBuffer.withUnsafeMutableBytes { b in
                    (try? FileSystem.readSome(fd, into: b, at: at, path: path)) ?? -1
                }
                guard n > 0 else { break }
                at += Int64(n)
                var used = 0
                while used < n && got < count {
                    guard
                        let r = try? inputBuffer.withUnsafeBytes({ i in
                            try out.withUnsafeMutableBytes { o in
                                try inflater.inflate(
                                    UnsafeRawBufferPointer(rebasing: i[used..<n]),
                                    into: UnsafeMutableRawBufferPointer(rebasing: o[got..<count]))
                            }
                        })
                    else { return Array(out[0..<got]) }
                    if r.consumed == 0 && r.produced == 0 { break }
                    used += r.consumed
                    got += r.produced
                }
            }
        } else {
            while got < count {
                let n = out.withUnsafeMutableBytes { b in
                    (try? FileSystem.readSome(
                        fd, into: UnsafeMutableRawBufferPointer(rebasing: b[got..<count]), at: Int64(got), path: path)) ?? -1
                }
                guard n > 0 else { break }
                got += n
            }
        }
        out.removeSubrange(got...)
        return out
    }

    /// The last `count` bytes of a plain file (empty for a compressed one).
    func tail(_ count: Int) -> [UInt8] {
        guard !compressed, let st = status() else { return [] }
        let size = Int64(st.st_size)
        let start = max(0, size - Int64(count))
        var out = [UInt8](repeating: 0, count: Int(size - start))
        let n = out.withUnsafeMutableBytes { b in
            (try? FileSystem.readSome(fd, into: b, at: start, path: path)) ?? -1
        }
        return n > 0 ? Array(out[0..<n]) : []
    }

    /// The FEXTRA field of a compressed file's gzip header (dockerd puts `{"lastTime":"…"}` there), if any.
    func gzipExtra() -> [UInt8]? {
        guard compressed else { return nil }
        var header = [UInt8](repeating: 0, count: 12)
        let n = header.withUnsafeMutableBytes { b in
            (try? FileSystem.readSome(fd, into: b, at: 0, path: path)) ?? -1
        }
        guard n == 12, header[0] == 0x1F, header[1] == 0x8B, header[3] & 0x04 != 0 else { return nil }
        let length = Int(header[10]) | Int(header[11]) << 8
        guard length > 0 else { return nil }
        var extra = [UInt8](repeating: 0, count: length)
        let got = extra.withUnsafeMutableBytes { b in
            (try? FileSystem.readSome(fd, into: b, at: 12, path: path)) ?? -1
        }
        return got == length ? extra : nil
    }
}
