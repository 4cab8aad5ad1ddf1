/// Where a source has read to: a file (identity and byte offset) or a journal cursor.
public enum SourcePosition: Sendable, Equatable {
    case file(FilePosition)
    case cursor(String)

    public var json: JSONValue {
        switch self {
        case .file(let f): return f.json
        case .cursor(let c): return .object([("cursor", .string(c))])
        }
    }

    public init?(json: JSONValue) {
        if let cursor = json["cursor"]?.stringValue {
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

    public init?(json: JSONValue) {
        guard let path = json["path"]?.stringValue, let device = json["device"]?.intValue,
            let inode = json["inode"]?.intValue, let fp = json["fingerprint"]?.stringValue.flatMap({ UInt64($0, radix: 16) }),
            let fpLength = json["fingerprintLength"]?.intValue, let offset = json["offset"]?.intValue
        else { return nil }
        self.init(
            path: path, device: UInt64(bitPattern: device), inode: UInt64(bitPattern: inode), fingerprint: fp,
            fingerprintLength: Int(fpLength), offset: offset)
    }
}
