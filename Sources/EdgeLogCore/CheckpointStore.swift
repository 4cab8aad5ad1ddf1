import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Committed source positions: what `<stateDirectory>/checkpoints.json` says, read at the start, then kept in
/// memory as batches are spooled. A position is committed once the batch holding its records is durably in the
/// spool (its file carries it); the file catches up through `CheckpointCommitter`, its only writer.
/// The same file carries the last batch sequence and the counters, so one fsync covers all three.
///
///     {"version": 1, "lastSequence": 42, "sources": {"docker/<id>": {...}, "journal": {"cursor": "..."}},
///      "counters": {...}, "lastReset": {"atMillis": ..., "reason": "...", "setAside": "...", ...}}
public final class CheckpointStore: Sendable {
    public static let version: Int64 = 1
    public static let fileName = "checkpoints.json"
    /// A larger file is not one EdgeLog wrote (a thousand followed files make about 250 KB).
    public static let maxFileBytes = 16 << 20
    /// The largest counter value read back (2^53: beyond, a restored counter could overflow when counted on).
    public static let maxCounter: Int64 = 1 << 53

    public let path: String
    /// Why the file found at the start could not be used, if it could not (nil: it was valid, or there was none).
    public let damage: Damage?
    /// Whether there was a file at all.
    public let existed: Bool

    private struct State {
        var positions: [String: SourcePosition] = [:]
        var lastSequence: UInt64 = 0
        var restoredCounters: [String: Int64] = [:]
        var lastReset: Reset?
        /// Changes with every change of positions, sequence or reset (not counters).
        var version: UInt64 = 0
    }
    private let state = Mutex(State())

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// A file that could not be used.
    public struct Damage: Sendable, Equatable {
        /// What is wrong with it.
        public let reason: String
        /// Where it was moved (nil if it was left in place).
        public let setAside: String?
    }

    /// What happened the last time the positions had to be rebuilt (kept in the file, shown by `status`).
    public struct Reset: Sendable, Equatable {
        public var atMillis: Int64
        /// Why: the damage, or a missing file while the spool held batches.
        public var reason: String
        /// Where the damaged file went (empty if it was missing or could not be moved).
        public var setAside: String
        /// Positions rebuilt from the spool's files.
        public var rebuiltPositions: Int
        /// Batch files whose positions were taken.
        public var batchesCarryingPositions: Int

        public init(atMillis: Int64, reason: String, setAside: String, rebuiltPositions: Int, batchesCarryingPositions: Int) {
            self.atMillis = atMillis
            self.reason = reason
            self.setAside = setAside
            self.rebuiltPositions = rebuiltPositions
            self.batchesCarryingPositions = batchesCarryingPositions
        }

        var json: JSONValue {
            .object([
                ("atMillis", .int(atMillis)), ("reason", .string(reason)), ("setAside", .string(setAside)),
                ("rebuiltPositions", .int(Int64(rebuiltPositions))),
                ("batchesCarryingPositions", .int(Int64(batchesCarryingPositions))),
            ])
        }

        init?(json: JSONValue) {
            guard let at = json["atMillis"]?.intValue, (0...SpoolEntry.maxCreatedMillis).contains(at),
                let reason = json["reason"]?.stringValue, let aside = json["setAside"]?.stringValue,
                let rebuilt = json["rebuiltPositions"]?.intValue, (0...Int64(Int32.max)).contains(rebuilt),
                let carried = json["batchesCarryingPositions"]?.intValue, (0...Int64(Int32.max)).contains(carried)
            else { return nil }
            self.init(
                atMillis: at, reason: String(reason.prefix(1000)), setAside: String(aside.prefix(4096)),
                rebuiltPositions: Int(rebuilt), batchesCarryingPositions: Int(carried))
        }
    }

    /// What to do with a file that cannot be used.
    public enum DamagePolicy: Sendable {
        /// Throw `Failure` (tools and tests that only read).
        case fail
        /// Start empty and report it in `damage`, leaving the file alone (`edgelog status`, which only reads).
        case report
        /// Rename it to `checkpoints.json.damaged-<ms>` and start empty (a pipeline, which then rebuilds).
        case setAside(nowMillis: Int64)
    }

    /// Loads `<directory>/checkpoints.json` if it exists. A file that cannot be read, does not parse, has another
    /// version or holds a value out of range is handled per `policy`: nothing in it can crash the process.
    /// Throws whatever the policy if the folder itself cannot be read (not a folder, no permission).
    public init(directory: String, onDamage policy: DamagePolicy = .fail) throws {
        let file = directory + "/" + Self.fileName
        path = file
        let loaded: Result<State, Failure>?
        do {
            loaded = try FileSystem.readState(file, maxBytes: CheckpointStore.maxFileBytes).map { CheckpointStore.decode($0) }
        } catch let error as SystemError where error.errno == ENOTDIR || error.errno == EACCES {
            // The state directory itself is the problem (not a folder, no permission): nothing to heal here.
            throw Failure(description: "\(file) cannot be read: \(error)")
        } catch {
            loaded = .failure(Failure(description: "cannot be read: \(error)"))
        }
        existed = loaded != nil
        switch loaded {
        case nil:
            damage = nil
        case .success(let good)?:
            damage = nil
            state.withLock { $0 = good }
        case .failure(let failure)?:
            switch policy {
            case .fail:
                throw Failure(description: "\(file) \(failure.description)")
            case .report:
                damage = Damage(reason: failure.description, setAside: nil)
            case .setAside(let now):
                let target = "\(file).damaged-\(now)"
                if (try? syscallRetrying("rename", path: file, { rename(file, target) })) != nil {
                    damage = Damage(reason: failure.description, setAside: target)
                } else {
                    // It is replaced by the next write instead.
                    damage = Damage(reason: failure.description, setAside: nil)
                }
            }
        }
    }

    /// The document's checks: an object of version 1, a sequence and counters within range, positions that read.
    private static func decode(_ bytes: [UInt8]) -> Result<State, Failure> {
        func bad(_ text: String) -> Result<State, Failure> { .failure(Failure(description: text)) }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            return bad("is damaged (\(error))")
        }
        guard document.objectValue != nil else { return bad("is not a JSON object") }
        guard let version = document["version"]?.intValue else { return bad("has no version") }
        guard version == Self.version else { return bad("has version \(version); this EdgeLog reads version \(Self.version)") }
        var loaded = State()
        if let value = document["lastSequence"] {
            guard let sequence = value.intValue, sequence >= 0, UInt64(sequence) <= SpoolEntry.maxSequence else {
                return bad("has lastSequence \(describe(value)), not a whole number from 0 to \(SpoolEntry.maxSequence)")
            }
            loaded.lastSequence = UInt64(sequence)
        }
        if let sources = document["sources"] {
            guard let members = sources.objectValue else { return bad("has sources that are not an object") }
            for (key, value) in members {
                guard let position = SourcePosition(json: value) else {
                    return bad("has an unreadable or out-of-range position for \(String(key.prefix(200)))")
                }
                loaded.positions[key] = position
            }
        }
        if let counters = document["counters"] {
            guard let members = counters.objectValue else { return bad("has counters that are not an object") }
            for (key, value) in members {
                guard let n = value.intValue, (0...Self.maxCounter).contains(n) else {
                    return bad("has counter \(String(key.prefix(100))) = \(describe(value)), not a whole number from 0 to \(Self.maxCounter)")
                }
                loaded.restoredCounters[key] = n
            }
        }
        loaded.lastReset = document["lastReset"].flatMap(Reset.init(json:))
        return .success(loaded)
    }

    private static func describe(_ value: JSONValue) -> String {
        var out: [UInt8] = []
        value.write(to: &out)
        return String(decoding: out.prefix(40), as: UTF8.self)
    }

    public var positions: [String: SourcePosition] { state.withLock { $0.positions } }
    public var lastSequence: UInt64 { state.withLock { $0.lastSequence } }
    public var restoredCounters: [String: Int64] { state.withLock { $0.restoredCounters } }
    public var lastReset: Reset? { state.withLock { $0.lastReset } }
    /// Changes with every change of the positions, the sequence or the reset record.
    var version: UInt64 { state.withLock { $0.version } }

    /// Takes positions whose batch is durably spooled (so committed already), without writing the file.
    public func apply(_ updates: [String: SourcePosition], sequence: UInt64?) {
        state.withLock { s in
            for (key, position) in updates { s.positions[key] = position }
            if let sequence { s.lastSequence = max(s.lastSequence, sequence) }
            s.version &+= 1
        }
    }

    /// Records a rebuild of the positions (written with the next checkpoint file).
    public func noteReset(_ reset: Reset) {
        state.withLock {
            $0.lastReset = reset
            $0.version &+= 1
        }
    }

    /// The file's bytes for the state now and `counters`, and the version of the state they hold (only
    /// `CheckpointCommitter` writes them).
    func encoded(counters: Counters) -> (bytes: [UInt8], version: UInt64) {
        let (document, version): (JSONValue, UInt64) = state.withLock { s in
            var members: [(String, JSONValue)] = [
                ("version", .int(Self.version)),
                ("lastSequence", .int(Int64(clamping: s.lastSequence))),
                ("sources", .object(s.positions.sorted(by: { $0.key < $1.key }).map { ($0.key, $0.value.json) })),
                ("counters", counters.json),
            ]
            if let reset = s.lastReset { members.append(("lastReset", reset.json)) }
            return (.object(members), s.version)
        }
        var bytes: [UInt8] = []
        document.write(to: &bytes, pretty: true)
        bytes.append(0x0A)
        return (bytes, version)
    }
}
