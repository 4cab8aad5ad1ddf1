import EdgeLogCore
import Foundation

/// Writes a container folder like Docker's json-file driver does: `<id>-json.log` and `config.v2.json`.
public final class DockerContainerFixture: @unchecked Sendable {
    public let root: String
    public let id: String
    public let name: String
    public var directory: String { root + "/" + id }
    public var logPath: String { directory + "/" + id + "-json.log" }
    private var handle: FileHandle?

    public init(root: String, name: String, id: String? = nil, labels: [String: String] = [:], image: String = "example/image:1.0")
        throws
    {
        self.root = root
        self.name = name
        self.id = id ?? Self.makeId(name)
        try FileManager.default.createDirectory(atPath: root + "/" + self.id, withIntermediateDirectories: true)
        let labelText = labels.map { "\(Self.quote($0.key)):\(Self.quote($0.value))" }.joined(separator: ",")
        let config =
            "{\"ID\":\"\(self.id)\",\"Name\":\"/\(name)\",\"Config\":{\"Image\":\(Self.quote(image)),\"Labels\":{\(labelText)}},\"State\":{\"StartedAt\":\"2026-11-27T10:00:00Z\"}}"
        try config.write(toFile: root + "/" + self.id + "/config.v2.json", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    public static func makeId(_ name: String) -> String {
        var hash: UInt64 = 1_469_598_103_934_665_603
        for b in name.utf8 { hash = (hash ^ UInt64(b)) &* 1_099_511_628_211 }
        let part = String(hash, radix: 16)
        let padded = String(repeating: "0", count: 16 - part.count) + part
        return String(repeating: padded, count: 4)
    }

    public static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        JSONWriter.appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// One json-file line for `message` (its newline included, as Docker stores it).
    public static func line(_ message: String, stream: String = "stdout", time: String = "2026-11-27T18:04:31.123456789Z")
        -> String
    {
        "{\"log\":\(quote(message)),\"stream\":\"\(stream)\",\"time\":\"\(time)\"}\n"
    }

    /// Appends raw bytes with O_APPEND, like Docker's writer.
    public func append(_ text: String) throws { try append(Array(text.utf8)) }

    public func append(_ bytes: [UInt8]) throws {
        if handle == nil {
            handle = FileHandle(forWritingAtPath: logPath)
            handle?.seekToEndOfFile()
        }
        handle?.seekToEndOfFile()
        handle?.write(Data(bytes))
    }

    /// Appends each message as one log line (newline added).
    public func log(_ messages: [String], stream: String = "stdout") throws {
        try append(messages.map { Self.line($0 + "\n", stream: stream) }.joined())
    }

    /// Docker's rotation: rename the live file to `.1` (shifting older ones) and start a new one.
    public func rotate() throws {
        try handle?.close()
        handle = nil
        let fm = FileManager.default
        if fm.fileExists(atPath: logPath + ".1") {
            try? fm.removeItem(atPath: logPath + ".2")
            try fm.moveItem(atPath: logPath + ".1", toPath: logPath + ".2")
        }
        try fm.moveItem(atPath: logPath, toPath: logPath + ".1")
        fm.createFile(atPath: logPath, contents: nil)
    }

    public func truncate() throws {
        try handle?.close()
        handle = nil
        let h = FileHandle(forWritingAtPath: logPath)
        try h?.truncate(atOffset: 0)
        try h?.close()
    }

    /// Deletes the log file and starts a new, empty one (its inode may be the old one's).
    public func replaceFile() throws {
        try handle?.close()
        handle = nil
        try FileManager.default.removeItem(atPath: logPath)
        FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    public func remove() throws {
        try handle?.close()
        handle = nil
        try FileManager.default.removeItem(atPath: directory)
    }
}
