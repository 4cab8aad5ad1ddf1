import EdgeLogCore

#if canImport(Glibc)
import Glibc
#endif

/// Device, inode and a fingerprint of the first bytes of the content: enough to tell a file from a new one that
/// reuses its inode, and to recognise a file again after Docker compressed it (new inode, same content).
///
/// The fingerprint covers the first line (up to its newline) or the first 4 KiB, whichever is shorter: a
/// json-file line ends with its time to the nanosecond, so two files of one container never share it.
/// Positions saved with a shorter fingerprint (256 bytes, before) are matched over their own length.
struct FileIdentity: Equatable {
    static let fingerprintBytes = 4096

    var device: UInt64
    var inode: UInt64
    var fingerprint: UInt64
    var fingerprintLength: Int

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

    /// The identity of content starting with `head` (the first bytes of the file, as many as it has up to
    /// `fingerprintBytes`), for a file with this device and inode.
    init(device: UInt64, inode: UInt64, head: UnsafeBufferPointer<UInt8>, framed: Bool = false) {
        if framed {
            // The first entry of a `local` file (its length, message and length again; its time makes it
            // unique): a newline there is just a byte.
            let entry = LocalEntryDecoder.length(head, at: 0).map { $0 + LocalEntryDecoder.framingBytes }
            let length = min(head.count, entry ?? head.count, Self.fingerprintBytes)
            self.init(
                device: device, inode: inode, fingerprint: Self.hash(UnsafeBufferPointer(rebasing: head[0..<length])),
                fingerprintLength: length)
            lineComplete = entry.map { length >= $0 } ?? false
            return
        }
        let length = Self.fingerprintLength(of: head)
        self.init(
            device: device, inode: inode, fingerprint: Self.hash(UnsafeBufferPointer(rebasing: head[0..<length])),
            fingerprintLength: length)
        lineComplete = length > 0 && head[length - 1] == 0x0A
    }

    /// True once the fingerprint covers what it ever will (a whole first line, or the full length): a shorter one
    /// is taken again as the file grows.
    var isComplete: Bool { fingerprintLength >= Self.fingerprintBytes || lineComplete }
    /// Set when the fingerprinted bytes end with the first newline (with framed entries: cover the first entry).
    var lineComplete = false

    static func fingerprintLength(of head: UnsafeBufferPointer<UInt8>) -> Int {
        let n = min(head.count, fingerprintBytes)
        guard n > 0, let base = head.baseAddress, let nl = memchr(base, 0x0A, n) else { return n }
        return base.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
    }

    /// FNV-1a.
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }

    /// True if content beginning with `head` has this fingerprint (`head` holds at least `fingerprintLength` bytes).
    func contentMatches(_ head: UnsafeBufferPointer<UInt8>) -> Bool {
        guard head.count >= fingerprintLength else { return false }
        return Self.hash(UnsafeBufferPointer(rebasing: head[0..<fingerprintLength])) == fingerprint
    }

    func sameFile(device: UInt64, inode: UInt64) -> Bool { self.device == device && self.inode == inode }

    func position(
        path: String, offset: Int64, entryTime: Int64? = nil, openPartials: [String: Int64] = [:]
    ) -> FilePosition {
        var p = FilePosition(
            path: path, device: device, inode: inode, fingerprint: fingerprint, fingerprintLength: fingerprintLength,
            offset: offset)
        p.entryTime = entryTime
        p.openPartials = openPartials
        return p
    }

    static func == (a: FileIdentity, b: FileIdentity) -> Bool {
        a.device == b.device && a.inode == b.inode && a.fingerprint == b.fingerprint
            && a.fingerprintLength == b.fingerprintLength
    }
}
