import Synchronization

/// Committed source positions, kept in `<stateDirectory>/checkpoints.json` (versioned, written atomically).
/// Positions arrive here only once the batch holding their records is durably in the spool.
/// The same file carries the last batch sequence and the counters, so one fsync covers all three.
public final class CheckpointStore: Sendable {
    public static let version: Int64 = 1
    public let path: String

    private struct State {
        var positions: [String: SourcePosition] = [:]
        var lastSequence: UInt64 = 0
        var restoredCounters: [String: Int64] = [:]
    }
    private let state = Mutex(State())

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads the file if it exists. A file of another version or that does not parse is an error:
    /// silently starting over would re-send or skip everything.
    public init(directory: String) throws {
        path = directory + "/checkpoints.json"
        guard let bytes = try FileSystem.read(path) else { return }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw Failure(description: "\(path) is damaged (\(error)); move it away to start over")
        }
        guard let version = document["version"]?.intValue, version == Self.version else {
            throw Failure(description: "\(path) has an unknown version; this EdgeLog reads version \(Self.version)")
        }
        var loaded = State()
        for (key, value) in document["sources"]?.objectValue ?? [] {
            if let position = SourcePosition(json: value) { loaded.positions[key] = position }
        }
        loaded.lastSequence = UInt64(document["lastSequence"]?.intValue ?? 0)
        for (key, value) in document["counters"]?.objectValue ?? [] {
            loaded.restoredCounters[key] = value.intValue ?? 0
        }
        let final = loaded
        state.withLock { $0 = final }
    }

    public var positions: [String: SourcePosition] { state.withLock { $0.positions } }
    public var lastSequence: UInt64 { state.withLock { $0.lastSequence } }
    public var restoredCounters: [String: Int64] { state.withLock { $0.restoredCounters } }

    /// Takes positions whose batch is durably spooled (so committed already), without writing the file.
    public func apply(_ updates: [String: SourcePosition], sequence: UInt64?) {
        state.withLock { s in
            for (key, position) in updates { s.positions[key] = position }
            if let sequence { s.lastSequence = max(s.lastSequence, sequence) }
        }
    }

    /// Merges `updates`, records `sequence` as the last batch spooled, and writes the file.
    public func commit(_ updates: [String: SourcePosition] = [:], sequence: UInt64? = nil, counters: Counters) throws {
        apply(updates, sequence: sequence)
        let document: JSONValue = state.withLock { s in
            return .object([
                ("version", .int(Self.version)),
                ("lastSequence", .int(Int64(s.lastSequence))),
                ("sources", .object(s.positions.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value.json) })),
                ("counters", counters.json),
            ])
        }
        var bytes: [UInt8] = []
        document.write(to: &bytes, pretty: true)
        bytes.append(0x0A)
        try FileSystem.writeAtomically(bytes, to: path)
    }
}
