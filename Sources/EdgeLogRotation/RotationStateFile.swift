import EdgeLogCore

/// `<stateDirectory>/rotation-state.json`: the rotation state, versioned and written atomically
/// (temp file, fsync, rename, folder fsync).
///
///     {"version": 1, "files": {"/var/lib/docker/containers/<id>/<id>-json.log":
///         {"lastRotated": 1795795200, "lastRotatedUTC": "2026-11-27T00:00:00Z"}}}
public struct RotationStateFile: Sendable {
    public static let version: Int64 = 1
    public static let fileName = "rotation-state.json"
    public let path: String

    public init(directory: String) {
        path = directory + "/" + Self.fileName
    }

    /// Why the state file could not be read.
    public enum LoadError: Error, CustomStringConvertible {
        /// Written by another EdgeLog version: left alone, and no pass runs.
        case unknownVersion(String)
        /// Unreadable or not JSON: the caller moves it aside and starts over.
        case damaged(String)

        public var description: String {
            switch self {
            case .unknownVersion(let s), .damaged(let s): return s
            }
        }
    }

    /// The latest `lastRotated` read back: the end of the year 9999 (EdgeLog writes the time of a rotation).
    public static let maxEpochSeconds: Int64 = 253_402_300_799
    /// A larger file is not one EdgeLog wrote (an entry takes about 150 bytes).
    public static let maxFileBytes = 16 << 20

    /// The saved state; empty if there is no file yet. A value out of range (a `lastRotated` that is not a whole
    /// number of seconds from 1970 to 9999) makes the file damaged: the caller moves it aside and starts over.
    public func load() throws(LoadError) -> RotationState {
        let bytes: [UInt8]?
        do {
            bytes = try FileSystem.readState(path, maxBytes: Self.maxFileBytes)
        } catch {
            throw .damaged("\(path) cannot be read: \(error)")
        }
        guard let bytes else { return RotationState() }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw .damaged("\(path) is damaged (\(error))")
        }
        guard let version = document["version"]?.intValue else {
            throw .damaged("\(path) has no version")
        }
        guard version == Self.version else {
            throw .unknownVersion("\(path) has version \(version); this EdgeLog reads version \(Self.version)")
        }
        var state = RotationState()
        if let files = document["files"] {
            guard let members = files.objectValue else { throw .damaged("\(path) has files that are not an object") }
            for (file, entry) in members {
                guard let value = entry["lastRotated"] else { continue }
                guard let seconds = value.intValue, (0...Self.maxEpochSeconds).contains(seconds) else {
                    throw .damaged(
                        "\(path) has lastRotated \(value.serialized(pretty: false).prefix(40)) for \(String(file.prefix(200))), not a time from 1970 to 9999")
                }
                state.lastRotated[file] = seconds
            }
        }
        return state
    }

    /// Writes `state` atomically.
    public func save(_ state: RotationState) throws {
        let files: [(String, JSONValue)] = state.lastRotated.sorted { $0.key < $1.key }.map { path, seconds in
            (path, .object([("lastRotated", .int(seconds)), ("lastRotatedUTC", .string(UTCTime.iso8601(seconds)))]))
        }
        let document = JSONValue.object([("version", .int(Self.version)), ("files", .object(files))])
        var bytes: [UInt8] = []
        document.write(to: &bytes, pretty: true)
        bytes.append(0x0A)
        try FileSystem.writeAtomically(bytes, to: path, mode: 0o600)
    }

    /// Moves a damaged file aside to `<path>.damaged-<epoch>` so a fresh one can be written.
    public func moveAside(now: Int64) throws {
        let target = "\(path).damaged-\(now)"
        try syscallRetrying("rename", path: path) { rename(path, target) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
