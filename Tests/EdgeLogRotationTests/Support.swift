import EdgeLogCore
import EdgeLogGzip
import EdgeLogRotation
import EdgeLogTestKit
import Foundation
import Synchronization
import Testing

/// A clock the test sets.
final class TestClock: RotationClock {
    private let seconds: Mutex<Int64>
    init(_ start: Int64) { seconds = Mutex(start) }
    func now() -> Int64 { seconds.withLock { $0 } }
    func set(_ value: Int64) { seconds.withLock { $0 = value } }
    func advance(_ delta: Int64) { seconds.withLock { $0 += delta } }
}

/// 2026-11-25 (a Wednesday) 10:30 UTC.
let wednesday = UTCTime.epochSeconds(year: 2026, month: 11, day: 25, hour: 10, minute: 30)

/// A folder with log files, a state folder, and a Rotator over them.
final class Fixture: @unchecked Sendable {
    let temp = TemporaryDirectory(prefix: "edgelog-rotation")
    let logs: String
    let state: String
    let clock: TestClock
    let counters = Counters()

    init(start: Int64 = wednesday) throws {
        // TemporaryDirectory's path may hold a double slash; rotation reports normalised paths.
        logs = normalized(try temp.makeDirectory("logs"))
        state = normalized(temp.file("state"))
        clock = TestClock(start)
    }

    func path(_ name: String) -> String { logs + "/" + name }

    /// Rotation settings over `<logs>/*.log` with `configure` applied to the policy.
    func settings(_ configure: (inout RotationPolicySettings) -> Void = { _ in }) -> RotationSettings {
        var s = RotationSettings()
        s.enabled = true
        s.policy.paths = [logs + "/*.log"]
        configure(&s.policy)
        return s
    }

    func rotator(
        _ settings: RotationSettings, ops: any FileOperations = SystemFileOperations(),
        coordinator: any TruncationCoordinator = NoTruncationCoordination()
    ) -> Rotator {
        Rotator(
            settings: settings, containersDirectory: temp.file("containers"), stateDirectory: state, ops: ops,
            clock: clock, coordinator: coordinator, counters: counters)
    }

    func write(_ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
    }

    func append(_ name: String, _ text: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path(name)))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    /// The text of `name`, gunzipped if it ends in .gz.
    func read(_ name: String) throws -> String {
        try Self.read(path(name))
    }

    static func read(_ path: String) throws -> String {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let plain = path.hasSuffix(".gz") ? try Gzip.decompress(data, limit: 1 << 30) : data
        return String(decoding: plain, as: UTF8.self)
    }

    /// The names in the logs folder, sorted (hidden ones too).
    func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: logs).sorted()
    }

    func setModified(_ name: String, _ seconds: Int64) throws {
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSince1970: TimeInterval(seconds))], ofItemAtPath: path(name))
    }

    func stateEntries() throws -> [String: Int64] {
        let document = try JSONParser.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: state + "/rotation-state.json"))))
        #expect(document["version"]?.intValue == 1)
        var result: [String: Int64] = [:]
        for (key, value) in document["files"]?.objectValue ?? [] { result[key] = value["lastRotated"]?.intValue }
        return result
    }
}

func normalized(_ path: String) -> String { "/" + path.split(separator: "/").joined(separator: "/") }

func fileStat(_ path: String) -> stat? {
    var st = stat()
    return lstat(path, &st) == 0 ? st : nil
}

/// Every file under `root` with its size and content hash, to prove nothing there changed.
func snapshot(_ root: String) throws -> [String: String] {
    var result: [String: String] = [:]
    let enumerator = FileManager.default.enumerator(atPath: root)
    while let relative = enumerator?.nextObject() as? String {
        let full = root + "/" + relative
        guard let st = fileStat(full) else { continue }
        if (st.st_mode & S_IFMT) == S_IFREG {
            let data = try Data(contentsOf: URL(fileURLWithPath: full))
            result[relative] = "\(st.st_mode) \(data.count) \(data.hashValue) \(st.st_mtim.tv_sec)"
        } else {
            result[relative] = "\(st.st_mode)"
        }
    }
    return result
}

/// A coordinator that records every call, what the rotated copy looked like when `finishTruncation` came, and
/// can refuse to follow.
final class RecordingCoordinator: TruncationCoordinator, @unchecked Sendable {
    enum Call: Equatable {
        case prepare(String)
        case finish(path: String, truncatedAt: Int64, rotatedCopy: String)
        case cancel(String)
    }
    struct Seen: Equatable {
        var copyContent: String
        var liveSize: Int64
        var folder: [String]
    }
    private let state = Mutex<([Call], [Seen])>(([], []))
    let follows: Bool
    let onPrepare: (@Sendable (String) -> Void)?

    init(follows: Bool = true, onPrepare: (@Sendable (String) -> Void)? = nil) {
        self.follows = follows
        self.onPrepare = onPrepare
    }

    var calls: [Call] { state.withLock { $0.0 } }
    var seen: [Seen] { state.withLock { $0.1 } }

    func prepareTruncation(path: String) async -> Bool {
        state.withLock { $0.0.append(.prepare(path)) }
        onPrepare?(path)
        return follows
    }

    func finishTruncation(path: String, truncatedAt: Int64, rotatedCopy: String) async {
        let copy = (try? String(contentsOfFile: rotatedCopy, encoding: .utf8)) ?? "<missing>"
        let live = Int64(fileStat(path)?.st_size ?? -1)
        let folder = (try? FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent).sorted()) ?? []
        state.withLock {
            $0.0.append(.finish(path: path, truncatedAt: truncatedAt, rotatedCopy: rotatedCopy))
            $0.1.append(Seen(copyContent: copy, liveSize: live, folder: folder))
        }
    }

    func cancelTruncation(path: String) async {
        state.withLock { $0.0.append(.cancel(path)) }
    }
}

/// `SystemFileOperations` with faults injected by file name.
final class FaultyFileOperations: FileOperations, @unchecked Sendable {
    struct Rules {
        /// Writes into files whose name has this suffix fail with `writeErrno` once `writeBudget` bytes were written.
        var failWritesTo: String?
        var writeBudget = 0
        var writeErrno: Int32 = ENOSPC
        /// Opening a file of this name first deletes it (it vanishes mid-rotation).
        var vanishOnOpen: String?
        /// Removing a file of this name fails with this errno.
        var failRemoveOf: String?
        var removeErrno: Int32 = EACCES
        /// When set, kernel copies and reads of a live file fail with EIO (a read error after prepare).
        var failCopies = false
        /// Called before each kernel copy (a writer appending while rotation copies).
        var beforeCopy: (@Sendable () -> Void)?
    }
    private let real = SystemFileOperations()
    private let state = Mutex<(rules: Rules, names: [Int32: String], written: [Int32: Int])>((Rules(), [:], [:]))

    func update(_ change: (inout Rules) -> Void) { state.withLock { change(&$0.rules) } }
    private var rules: Rules { state.withLock { $0.rules } }

    func openRoot(_ path: String) throws(SystemError) -> Int32 { try real.openRoot(path) }
    func openDirectory(in directory: Int32, _ name: String) throws(SystemError) -> Int32 {
        try real.openDirectory(in: directory, name)
    }
    func open(in directory: Int32, _ name: String, flags: Int32, mode: mode_t) throws(SystemError) -> Int32 {
        if rules.vanishOnOpen == name { try? real.remove(in: directory, name) }
        let fd = try real.open(in: directory, name, flags: flags, mode: mode)
        state.withLock { $0.names[fd] = name; $0.written[fd] = 0 }
        return fd
    }
    func status(in directory: Int32, _ name: String) throws(SystemError) -> stat? { try real.status(in: directory, name) }
    func status(_ fd: Int32) throws(SystemError) -> stat { try real.status(fd) }
    func list(_ directory: Int32) throws(SystemError) -> [String] { try real.list(directory) }
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try real.read(fd, into: buffer)
    }
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        if rules.failCopies { throw SystemError("pread", errno: EIO) }
        return try real.read(fd, into: buffer, at: offset)
    }
    private func checkWrite(_ fd: Int32, _ count: Int) throws(SystemError) {
        let (r, name, written) = state.withLock { ($0.rules, $0.names[fd] ?? "", $0.written[fd] ?? 0) }
        if let suffix = r.failWritesTo, name.hasSuffix(suffix), written + count > r.writeBudget {
            throw SystemError("write", path: name, errno: r.writeErrno)
        }
        state.withLock { $0.written[fd, default: 0] += count }
    }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        try checkWrite(fd, bytes.count)
        return try real.write(fd, bytes)
    }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        try checkWrite(fd, bytes.count)
        return try real.write(fd, bytes, at: offset)
    }
    func copy(from source: Int32, at sourceOffset: Int64, to destination: Int32, at destinationOffset: Int64, count: Int)
        throws(SystemError) -> Int?
    {
        let r = rules
        r.beforeCopy?()
        if r.failCopies { throw SystemError("copy_file_range", errno: EIO) }
        if let suffix = rules.failWritesTo, (state.withLock { $0.names[destination] ?? "" }).hasSuffix(suffix) {
            return nil  // go through write() so the budget applies
        }
        return try real.copy(from: source, at: sourceOffset, to: destination, at: destinationOffset, count: count)
    }
    func truncate(_ fd: Int32, to length: Int64) throws(SystemError) { try real.truncate(fd, to: length) }
    func sync(_ fd: Int32) throws(SystemError) { try real.sync(fd) }
    func setOwner(_ fd: Int32, uid: uid_t, gid: gid_t) throws(SystemError) { try real.setOwner(fd, uid: uid, gid: gid) }
    func setMode(_ fd: Int32, _ mode: mode_t) throws(SystemError) { try real.setMode(fd, mode) }
    func setTimes(_ fd: Int32, like source: stat) throws(SystemError) { try real.setTimes(fd, like: source) }
    func rename(in directory: Int32, _ from: String, to: String) throws(SystemError) { try real.rename(in: directory, from, to: to) }
    func remove(in directory: Int32, _ name: String) throws(SystemError) {
        if let r = rules.failRemoveOf, r == name { throw SystemError("unlink", path: name, errno: rules.removeErrno) }
        try real.remove(in: directory, name)
    }
    func tryLock(_ fd: Int32) throws(SystemError) -> Bool { try real.tryLock(fd) }
    func close(_ fd: Int32) {
        state.withLock { $0.names[fd] = nil; $0.written[fd] = nil }
        real.close(fd)
    }
}
