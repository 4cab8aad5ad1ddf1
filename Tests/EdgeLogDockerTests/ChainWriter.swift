import EdgeLogCore
import EdgeLogGzip
import EdgeLogTestKit
import Foundation

/// Writes a container's json-file log and rotates it exactly as dockerd's json-file driver does (moby's
/// `loggerutils.LogFile.rotate`): the oldest `.N[.gz]` is deleted, the others move up by one, the live file becomes
/// `.1` and a new live file is created; with `compress`, `.1` is then compressed to `.1.gz` with dockerd's gzip
/// header (`{"lastTime":…}` in FEXTRA) and `.1` removed.
struct ChainWriter {
    let directory: String
    let base: String
    var path: String { directory + "/" + base }

    init(_ fixture: DockerContainerFixture) {
        directory = fixture.directory
        base = fixture.id + "-json.log"
    }

    /// `ms` milliseconds after 2026-11-27T18:00:00Z, with nine fraction digits (fixed width).
    static func time(_ ms: Int) -> String {
        let minutes = ms / 60_000
        let seconds = (ms / 1000) % 60
        return String(format: "2026-11-27T%02d:%02d:%02d.%03d000000Z", 18 + minutes / 60, minutes % 60, seconds, ms % 1000)
    }

    /// One line per message (newline added), the i-th written at `time(i)`.
    func log(_ range: Range<Int>, stream: String = "stdout", _ message: (Int) -> String) throws {
        try append(range.map { DockerContainerFixture.line(message($0) + "\n", stream: stream, time: Self.time($0)) }.joined())
    }

    func append(_ text: String) throws { try append(Array(text.utf8)) }

    func append(_ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw SystemError("open", path: path, errno: errno) }
        defer { close(fd) }
        try FileSystem.writeAll(fd: fd, bytes, path: path)
    }

    func rotate(maxFile: Int = 3, compress: Bool = false, lastTime: String = ChainWriter.time(0)) throws {
        let fm = FileManager.default
        let ext = compress ? ".gz" : ""
        try? fm.removeItem(atPath: "\(path).\(maxFile - 1)\(ext)")
        if maxFile > 2 {
            for i in stride(from: maxFile - 1, to: 1, by: -1) where fm.fileExists(atPath: "\(path).\(i - 1)\(ext)") {
                try fm.moveItem(atPath: "\(path).\(i - 1)\(ext)", toPath: "\(path).\(i)\(ext)")
            }
        }
        if maxFile < 2 {
            try fm.removeItem(atPath: path)
        } else {
            try fm.moveItem(atPath: path, toPath: path + ".1")
        }
        fm.createFile(atPath: path, contents: nil)
        if compress && maxFile >= 2 { try compressFirst(lastTime: lastTime) }
    }

    /// dockerd's `compressFile`: `.1` to `.1.gz` with `{"lastTime":…}` in the gzip header, then `.1` removed.
    func compressFirst(lastTime: String) throws {
        let plain = try FileSystem.read(path + ".1") ?? []
        try FileSystem.writeAtomically(try Self.dockerGzip(plain, lastTime: lastTime), to: path + ".1.gz")
        try FileSystem.remove(path + ".1")
    }

    static func dockerGzip(_ plain: [UInt8], lastTime: String) throws -> [UInt8] {
        var member = try Gzip.compress(plain)
        // zlib writes a bare 10-byte header: add FEXTRA as Go's gzip writer does for Header.Extra.
        let extra = Array("{\"lastTime\":\"\(lastTime)\"}".utf8)
        member[3] |= 0x04
        member.insert(contentsOf: [UInt8(extra.count & 0xFF), UInt8(extra.count >> 8)] + extra, at: 10)
        return member
    }
}
