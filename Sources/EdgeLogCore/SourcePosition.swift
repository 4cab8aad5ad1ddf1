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

    public init(path: String, device: UInt64, inode: UInt64, fingerprint: UInt64, fingerprintLength: Int, offset: Int64) {
        self.path = path
        self.device = device
        self.inode = inode
        self.fingerprint = fingerprint
        self.fingerprintLength = fingerprintLength
        self.offset = offset
    }

    public var json: JSONValue {
        .object([
            ("path", .string(path)), ("device", .int(Int64(bitPattern: device))), ("inode", .int(Int64(bitPattern: inode))),
            ("fingerprint", .string(String(fingerprint, radix: 16))), ("fingerprintLength", .int(Int64(fingerprintLength))),
            ("offset", .int(offset)),
        ])
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
        self.init(
            path: path, device: UInt64(bitPattern: device), inode: UInt64(bitPattern: inode), fingerprint: fp,
            fingerprintLength: Int(fpLength), offset: offset)
    }
}
