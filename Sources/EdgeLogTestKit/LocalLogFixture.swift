import EdgeLogCore
import Foundation

/// Writes entries as Docker's `local` logging driver does (moby `daemon/logger/local`): a 4-byte big-endian
/// length, a protobuf `LogEntry` (fields in number order, as gogo-protobuf writes them, defaults omitted), the
/// length again.
public enum LocalLogEncoding {
    public struct Partial: Sendable {
        public var last: Bool
        public var id: String
        public var ordinal: Int32
        public init(last: Bool, id: String, ordinal: Int32) {
            self.last = last
            self.id = id
            self.ordinal = ordinal
        }
    }

    /// One framed entry.
    public static func entry(
        _ line: [UInt8], source: String = "stdout", timeNanos: Int64, partial: Partial? = nil,
        attrs: [(String, String)] = []
    ) -> [UInt8] {
        var m: [UInt8] = []
        if !source.isEmpty { field(1, bytes: Array(source.utf8), to: &m) }
        if timeNanos != 0 {
            m.append(2 << 3)
            varint(UInt64(bitPattern: timeNanos), to: &m)
        }
        if !line.isEmpty { field(3, bytes: line, to: &m) }
        if let partial {
            m.append(4 << 3)
            m.append(1)
            var meta: [UInt8] = []
            if partial.last {
                meta.append(1 << 3)
                meta.append(1)
            }
            if !partial.id.isEmpty { field(2, bytes: Array(partial.id.utf8), to: &meta) }
            if partial.ordinal != 0 {
                meta.append(3 << 3)
                varint(UInt64(bitPattern: Int64(partial.ordinal)), to: &meta)
            }
            field(5, bytes: meta, to: &m)
        }
        for (key, value) in attrs {
            var a: [UInt8] = []
            field(1, bytes: Array(key.utf8), to: &a)
            field(2, bytes: Array(value.utf8), to: &a)
            field(6, bytes: a, to: &m)
        }
        let n = UInt32(m.count)
        let length = [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        return length + m + length
    }

    /// A message the way dockerd's copier hands it to the driver: pieces of at most 16 KiB, each carrying the
    /// first piece's time; a message of exactly a multiple of 16 KiB ends with an empty last piece. `complete`
    /// false: the output ended without a newline (the container exited), so no last piece.
    public static func message(
        _ text: [UInt8], source: String = "stdout", timeNanos: Int64, id: String = "p", complete: Bool = true
    ) -> [UInt8] {
        let size = 16 * 1024
        guard text.count >= size || !complete else { return entry(text, source: source, timeNanos: timeNanos) }
        var out: [UInt8] = []
        var start = 0
        var ordinal: Int32 = 1
        while text.count - start >= size {
            out += entry(
                Array(text[start..<(start + size)]), source: source, timeNanos: timeNanos,
                partial: Partial(last: false, id: id, ordinal: ordinal))
            start += size
            ordinal += 1
        }
        if complete || start < text.count {
            out += entry(
                Array(text[start...]), source: source, timeNanos: timeNanos,
                partial: Partial(last: complete, id: id, ordinal: ordinal))
        }
        return out
    }

    static func field(_ number: UInt8, bytes: [UInt8], to out: inout [UInt8]) {
        out.append(number << 3 | 2)
        varint(UInt64(bytes.count), to: &out)
        out += bytes
    }

    static func varint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}

/// A container folder as dockerd writes it for a container of the `local` logging driver: `config.v2.json`,
/// `hostconfig.json` naming the driver, and `local-logs/container.log`.
public final class LocalContainerFixture: @unchecked Sendable {
    public let root: String
    public let id: String
    public let name: String
    public var directory: String { root + "/" + id }
    public var logDirectory: String { directory + "/local-logs" }
    public var logPath: String { logDirectory + "/container.log" }

    public init(
        root: String, name: String, id: String? = nil, image: String = "example/image:1.0", driver: String = "local"
    ) throws {
        self.root = root
        self.name = name
        self.id = id ?? DockerContainerFixture.makeId(name)
        try FileManager.default.createDirectory(atPath: root + "/" + self.id, withIntermediateDirectories: true)
        let config =
            "{\"ID\":\"\(self.id)\",\"Name\":\"/\(name)\",\"LogPath\":\"\",\"Config\":{\"Image\":\(DockerContainerFixture.quote(image)),\"Labels\":{}},\"State\":{\"StartedAt\":\"2026-11-27T10:00:00Z\"}}"
        try config.write(toFile: directory + "/config.v2.json", atomically: true, encoding: .utf8)
        try Self.writeHostConfig(directory: directory, driver: driver)
        if driver == "local" {
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: logPath, contents: nil)
        }
    }

    /// `hostconfig.json` as dockerd writes it (the fields around `LogConfig` abridged).
    public static func writeHostConfig(directory: String, driver: String, options: [String: String] = [:]) throws {
        let config = options.map { "\(DockerContainerFixture.quote($0.key)):\(DockerContainerFixture.quote($0.value))" }
            .joined(separator: ",")
        let text =
            "{\"Binds\":null,\"ContainerIDFile\":\"\",\"LogConfig\":{\"Type\":\(DockerContainerFixture.quote(driver)),\"Config\":{\(config)}},\"NetworkMode\":\"none\",\"RestartPolicy\":{\"Name\":\"no\",\"MaximumRetryCount\":0},\"AutoRemove\":false}"
        try text.write(toFile: directory + "/hostconfig.json", atomically: true, encoding: .utf8)
    }

    /// `ms` milliseconds after 2026-11-27T18:00:00Z, in nanoseconds since the epoch.
    public static func time(_ ms: Int) -> Int64 { 1_795_802_400_000_000_000 + Int64(ms) * 1_000_000 }

    /// Appends raw bytes with O_APPEND, like dockerd's writer.
    public func append(_ bytes: [UInt8]) throws {
        let fd = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw SystemError("open", path: logPath, errno: errno) }
        defer { close(fd) }
        try FileSystem.writeAll(fd: fd, bytes, path: logPath)
    }

    /// One entry per message, the i-th of `range` written at `time(i)`.
    public func log(_ range: Range<Int>, source: String = "stdout", _ message: (Int) -> String) throws {
        var bytes: [UInt8] = []
        for i in range { bytes += LocalLogEncoding.entry(Array(message(i).utf8), source: source, timeNanos: Self.time(i)) }
        try append(bytes)
    }
}
