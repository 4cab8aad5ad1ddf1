/// Where a source has read to: a file (identity and byte offset) or a journal cursor.
public enum SourcePosition: Sendable, Equatable {
    case file(FilePosition)
    case cursor(String)

    /// Longest journal cursor read back (real ones are about 150 bytes).
    public static let maxCursorBytes = 4096

    public var json: JSONValue {
        switch self {
        case .file(let f): return f.json
        case .cursor(let c): return .object([("cursor", .string(c))])
        }
    }

    /// Reads a position EdgeLog wrote (checkpoint file, spool header); nil for anything out of range.
    public init?(json: JSONValue) {
        if let cursor = json["cursor"]?.stringValue {
            guard cursor.utf8.count <= Self.maxCursorBytes else { return nil }
            self = .cursor(cursor)
        } else if let file = FilePosition(json: json) {
            self = .file(file)
        } else {
            return nil
        }
    }
}

/// A position in a file. The file is known by device and inode plus a fingerprint of its first bytes,
/// so a new file that reuses a deleted file's inode is not taken for the old one.
public struct FilePosition: Sendable, Equatable {
    public var path: String
    public var device: UInt64
    public var inode: UInt64
    /// FNV-1a of the first `fingerprintLength` bytes of the file.
    public var fingerprint: UInt64
    public var fingerprintLength: Int
    /// Bytes consumed: everything before this offset is in a record already handed on.
    public var offset: Int64
    /// When the newest entry read before `offset` was written (nanoseconds since the epoch), if known: what a
    /// source estimates a loss from when this file is gone at the next start.
    public var entryTime: Int64? = nil
    /// When the first entry of this file was written, if known: with `offset` and `entryTime`, the rate the file was
    /// written at, for the same estimate.
    public var fileStartTime: Int64? = nil
    /// Messages still open at `offset` (pieces read, the last piece not yet), by stream: the offset of each one's
    /// first piece in this file. A restart reads those pieces again to rebuild the messages, and nothing else
    /// before `offset`.
    public var openPartials: [String: Int64] {
        get { partials ?? [:] }
        set { partials = newValue.isEmpty ? nil : newValue }
    }
    /// Nil when empty (nearly always): positions are made for every record, and nil costs nothing to copy.
    private var partials: [String: Int64]? = nil

    public init(path: String, device: UInt64, inode: UInt64, fingerprint: UInt64, fingerprintLength: Int, offset: Int64) {
        self.path = path
        self.device = device
        self.inode = inode
        self.fingerprint = fingerprint
        self.fingerprintLength = fingerprintLength
        self.offset = offset
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("path", .string(path)), ("device", .int(Int64(bitPattern: device))), ("inode", .int(Int64(bitPattern: inode))),
            ("fingerprint", .string(String(fingerprint, radix: 16))), ("fingerprintLength", .int(Int64(fingerprintLength))),
            ("offset", .int(offset)),
        ]
        if let entryTime { members.append(("entryTime", .int(entryTime))) }
        if let fileStartTime { members.append(("fileStartTime", .int(fileStartTime))) }
        if !openPartials.isEmpty {
            members.append(("openPartials", .object(openPartials.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })))
        }
        return .object(members)
    }

    /// The most bytes a fingerprint covers when read back (the Docker source takes 256).
    public static let maxFingerprintLength: Int64 = 4096
    /// The largest offset read back (an exabyte: any real file is smaller; beyond, sums could overflow).
    public static let maxOffset: Int64 = 1 << 60

    /// Reads a position EdgeLog wrote; nil if a field is missing or out of range (a negative offset, a
    /// fingerprint longer than `maxFingerprintLength`, an empty or overlong path).
    public init?(json: JSONValue) {
        guard let path = json["path"]?.stringValue, !path.isEmpty, path.utf8.count <= 4096,
            let device = json["device"]?.intValue,
            let inode = json["inode"]?.intValue, let fp = json["fingerprint"]?.stringValue.flatMap({ UInt64($0, radix: 16) }),
            let fpLength = json["fingerprintLength"]?.intValue, (0...Self.maxFingerprintLength).contains(fpLength),
            let offset = json["offset"]?.intValue, (0...Self.maxOffset).contains(offset)
        else { return nil }
        guard fpLength >= 0, fpLength <= 1 << 20, offset >= 0 else { return nil }
        self.init(
            path: path, device: UInt64(bitPattern: device), inode: UInt64(bitPattern: inode), fingerprint: fp,
            fingerprintLength: Int(fpLength), offset: offset)
        entryTime = json["entryTime"]?.intValue
        fileStartTime = json["fileStartTime"]?.intValue
        for (stream, value) in json["openPartials"]?.objectValue ?? [] {
            if let start = value.intValue, start >= 0, start <= offset { openPartials[stream] = start }
        }
    }
}
