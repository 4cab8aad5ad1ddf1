import EdgeLogCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Follows one container's `<id>-json.log`: reads it in fixed-size pieces, rejoins Docker's 16 KiB partial
/// messages, follows Docker's rename rotation (the old file is read to its end first) and notices truncation.
/// Used by one task only (the Docker source's).
final class ContainerTailer {
    let id: String
    let directory: String
    let logPath: String
    let key: String
    let settings: DockerSettings
    let maxRecordBytes: Int
    var malformedSeen = 0
    private let host: HostIdentity
    let logger: Logger

    private(set) var metadata: ContainerMetadata?
    var template: RecordTemplate
    var extraPrefix: [UInt8] = []  // the template's Extra without its closing brace, for lines with attrs

    struct OpenFile {
        var fd: Int32
        var path: String
        var identity: FileIdentity
        var readOffset: Int64
        /// Reading a rotated file found from the checkpoint: switch to the live file at its end.
        var thenLive: Bool
        /// Reading the rotated copy of a copytruncate: stop here, then restart the live file at 0.
        var limit: Int64? = nil
    }
    /// The live file while its rotated copy is read.
    private var liveAside: OpenFile?
    /// Set while rotation copies and truncates the file: the tailer does not read it meanwhile.
    var heldSince: ContinuousClock.Instant?
    var file: OpenFile?
    private var checkpoint: FilePosition?
    private var startAtEnd: Bool
    private var recordStart = false
    /// Offset just past the last complete line handled.
    var consumed: Int64 = 0
    var carry: [UInt8] = []
    var carryOversize = false

    struct Pending {
        var message: [UInt8]
        var time: [UInt8]
        var startOffset: Int64
        var truncated: Bool
    }
    var pending: [Pending?] = [nil, nil, nil]

    var line = DockerLine()
    var timeScratch: [UInt8] = []
    var extraScratch: [UInt8] = []
    var messageScratch: [UInt8] = []
    var tally = Tally()
    private(set) var gone = false

    struct Tally {
        var records = 0, bytes = 0, malformed = 0, oversize = 0, truncated = 0, replaced = 0
    }

    static let readSize = 256 * 1024

    init(
        id: String, directory: String, settings: DockerSettings, host: HostIdentity, maxRecordBytes: Int,
        checkpoint: SourcePosition?, startAtEnd: Bool, logger: Logger
    ) {
        self.maxRecordBytes = maxRecordBytes
        self.id = id
        self.directory = directory
        logPath = directory + "/" + id + "-json.log"
        key = "docker/" + id
        self.settings = settings
        self.host = host
        if case .file(let position)? = checkpoint { self.checkpoint = position }
        self.startAtEnd = startAtEnd
        self.logger = logger
        template = RecordTemplate(host: host, source: "docker", moduleId: String(id.prefix(12)), containerId: id)
        reloadMetadata()
    }

    deinit { if let file { close(file.fd) } }

    var name: String { metadata?.name ?? String(id.prefix(12)) }

    /// Re-reads config.v2.json (a container restart rewrites it). Returns true if something changed.
    @discardableResult
    func reloadMetadata() -> Bool {
        guard case .success(let meta) = ContainerMetadata.load(directory + "/config.v2.json") else { return false }
        guard meta != metadata else { return false }
        metadata = meta
        let labels = meta.labels.filter { Glob.selects($0.0, patterns: settings.labels) }
        let extra: JSONValue =
            labels.isEmpty ? .object([]) : .object([("labels", .object(labels.map { ($0.0, .string($0.1)) }))])
        template = RecordTemplate(
            host: host, source: "docker", moduleId: meta.name, containerId: id, containerImage: meta.image, extra: extra)
        extraPrefix = []
        extra.write(to: &extraPrefix)
        extraPrefix.removeLast()
        return true
    }

    // MARK: reading

    /// Reads one piece into `buffer` (shared by every tailer of the source: one task reads them in turn) and
    /// appends its records to `chunk`. Returns false when there was nothing to do.
    func read(into chunk: inout RecordChunk, buffer: inout [UInt8], counters: Counters) -> Bool {
        defer { flush(tally: counters) }
        guard openIfNeeded() else { return false }
        guard var f = file else { return false }
        let want = f.limit.map { Int(max(0, min(Int64(buffer.count), $0 - f.readOffset))) } ?? buffer.count
        if want == 0 { return false }
        let n = buffer.withUnsafeMutableBytes { pread(f.fd, $0.baseAddress, want, off_t(f.readOffset)) }
        if n < 0 {
            let code = errno
            if code == EINTR || code == EAGAIN { return true }
            logger.error("cannot read \(f.path): \(SystemError("read", errno: code))")
            counters.add(.readErrors)
            closeFile()
            return false
        }
        if n == 0 {
            if f.limit != nil { return false }
            if recordStart {
                // Starting at the end of a file seen for the first time: commit that as the position, or the
                // next start would skip what was written in between.
                recordStart = false
                chunk.finalPosition = .file(f.identity.position(path: f.path, offset: f.readOffset))
                return true
            }
            return atEndOfFile(into: &chunk, counters: counters)
        }
        recordStart = false
        let base = f.readOffset
        f.readOffset += Int64(n)
        if f.identity.fingerprintLength < FileIdentity.fingerprintBytes,
            let refreshed = FileIdentity.of(fd: f.fd), refreshed.inode == f.identity.inode
        {
            f.identity = refreshed
        }
        file = f
        tally.bytes += n
        buffer.withUnsafeBufferPointer { process(UnsafeBufferPointer(rebasing: $0[0..<n]), base: base, into: &chunk) }
        chunk.finalPosition = .file(f.identity.position(path: f.path, offset: safeOffset(consumed)))
        return true
    }

    private func openIfNeeded() -> Bool {
        if file != nil { return true }
        if let position = checkpoint {
            checkpoint = nil
            let wanted = FileIdentity(position)
            for (path, thenLive) in [(logPath, false), (logPath + ".1", true)] {
                let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { continue }
                if wanted.matches(fd: fd) {
                    var st = stat()
                    fstat(fd, &st)
                    let offset = Int64(st.st_size) < position.offset ? 0 : position.offset
                    file = OpenFile(fd: fd, path: path, identity: wanted, readOffset: offset, thenLive: thenLive)
                    consumed = offset
                    if thenLive { logger.info("\(name): resuming in the rotated \(path) before the live file") }
                    return true
                }
                close(fd)
            }
            logger.warning(
                "\(name): the checkpointed file is gone (rotated away or replaced while EdgeLog was stopped); reading \(logPath) from its start"
            )
        }
        let fd = open(logPath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        guard let identity = FileIdentity.of(fd: fd) else {
            close(fd)
            return false
        }
        var start: Int64 = 0
        if startAtEnd {
            var st = stat()
            fstat(fd, &st)
            start = Int64(st.st_size)
            startAtEnd = false
            recordStart = true
        }
        file = OpenFile(fd: fd, path: logPath, identity: identity, readOffset: start, thenLive: false)
        consumed = start
        return true
    }

    // MARK: copytruncate coordination

    /// True if `path` names the live file this tailer reads (same device and inode: paths may be spelled
    /// differently, e.g. with `//` or through a symlinked folder).
    func follows(_ path: String) -> Bool {
        guard let live = file?.limit == nil ? file : liveAside else { return false }
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return UInt64(st.st_dev) == live.identity.device && UInt64(st.st_ino) == live.identity.inode
    }
    var readOffset: Int64 { file?.readOffset ?? 0 }

    /// The size of the open file now (0 if none is open).
    var liveSize: Int64 {
        guard let f = file else { return 0 }
        var st = stat()
        return fstat(f.fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Rotation truncated the live file at `truncatedAt` after copying it to `copy`: read what is left up to there
    /// from the copy. Returns false if the copy cannot be used (then the live file simply restarts at 0).
    func beginCopy(_ copy: String, truncatedAt: Int64) -> Bool {
        guard let live = file, live.limit == nil, live.readOffset < truncatedAt else { return false }
        let fd = open(copy, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0, let identity = FileIdentity.of(fd: fd) else {
            if fd >= 0 { close(fd) }
            logger.error("\(name): cannot open the rotated copy \(copy); lines up to its end may be missing")
            return false
        }
        liveAside = live
        file = OpenFile(fd: fd, path: copy, identity: identity, readOffset: live.readOffset, thenLive: false, limit: truncatedAt)
        return true
    }

    /// Back to the live file, at 0 (it was truncated).
    func restartLive() {
        if let f = file, f.limit != nil {
            close(f.fd)
            file = liveAside
        }
        liveAside = nil
        guard var live = file else { return }
        live.readOffset = 0
        live.identity = FileIdentity.of(fd: live.fd) ?? live.identity
        file = live
        consumed = 0
        for i in pending.indices { if pending[i] != nil { pending[i]!.startOffset = 0 } }
    }

    private func closeFile() {
        if let file { close(file.fd) }
        file = nil
        carry.removeAll(keepingCapacity: false)
        carryOversize = false
    }

    /// At the end of the open file: truncated? rotated? or just nothing new.
    private func atEndOfFile(into chunk: inout RecordChunk, counters: Counters) -> Bool {
        guard let f = file else { return false }
        var st = stat()
        fstat(f.fd, &st)
        if Int64(st.st_size) < f.readOffset || (f.identity.fingerprintLength > 0 && !f.identity.matches(fd: f.fd)) {
            // Truncated in place (copytruncate by someone): what was read is kept, reading starts over at 0.
            logger.info("\(name): \(f.path) was truncated; reading it again from its start")
            counters.add(.filesTruncatedDetected)
            completePending(into: &chunk, file: f)
            carry.removeAll()
            carryOversize = false
            let identity = FileIdentity.of(fd: f.fd) ?? f.identity
            file = OpenFile(fd: f.fd, path: f.path, identity: identity, readOffset: 0, thenLive: f.thenLive)
            consumed = 0
            chunk.finalPosition = .file(identity.position(path: f.path, offset: 0))
            return true
        }
        var live = stat()
        let liveExists = lstat(logPath, &live) == 0
        let renamed = f.thenLive || !liveExists || UInt64(live.st_ino) != f.identity.inode
            || UInt64(live.st_dev) != f.identity.device
        guard renamed else { return false }
        if !liveExists && !f.thenLive {
            // The file (or the whole container) is gone and fully read; a new one may appear later.
            if lstat(directory, &live) != 0 { gone = true }
            if !carry.isEmpty { finishCarry(into: &chunk, file: f) }
            completePending(into: &chunk, file: f)
            closeFile()
            return !chunk.isEmpty
        }
        // Docker renamed the file away (x-json.log -> x-json.log.1): read to its end (done), then the new file from 0.
        if !carry.isEmpty { finishCarry(into: &chunk, file: f) }
        completePending(into: &chunk, file: f)
        counters.add(.filesRotatedFollowed)
        closeFile()
        checkpoint = nil
        startAtEnd = false
        consumed = 0
        return true
    }

    private func flush(tally counters: Counters) {
        counters.add(.recordsRead, tally.records)
        counters.add(.bytesRead, tally.bytes)
        counters.add(.recordsReadDocker, tally.records)
        counters.add(.bytesReadDocker, tally.bytes)
        counters.add(.linesMalformed, tally.malformed)
        counters.add(.linesOversize, tally.oversize)
        counters.add(.messagesTruncated, tally.truncated)
        counters.add(.invalidUTF8Replaced, tally.replaced)
        tally = Tally()
    }
}
