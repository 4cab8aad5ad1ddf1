import EdgeLogCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Follows one container's log (json-file, or the `local` driver's files): reads its rotation chain (`LogChain`) in
/// order, in fixed-size pieces, decodes the lines (`DockerLineDecoder`, `LocalEntryDecoder`), rejoins Docker's 16 KiB partial messages and notices truncation of the
/// live file. Used by one task only (the Docker source's).
final class ContainerTailer {
    let id: String
    let directory: String
    let logPath: String
    let key: String
    let settings: DockerSettings
    let maxRecordBytes: Int
    let chain: LogChain
    /// The logging driver whose files are read: json-file, or `local` (length-framed entries: `framed`).
    let driver: LogDriver
    let framed: Bool
    let ledger: PendingLedger
    var malformedSeen = 0
    private let host: HostIdentity
    let logger: Logger
    /// The `records` section's columns, for this container's records and the rate limits' reports.
    let shape: RecordShape
    /// The source's filters and redaction (one for all its containers: it holds the rate limits' buckets).
    let filter: RecordFilter
    /// `filter.isPassThrough`, kept: with no rule and no redaction a record costs no call.
    let filterPassThrough: Bool
    /// The rule for this container's records, by its name (worked out again when the name changes).
    var route = FilterRoute.unfiltered

    private(set) var metadata: ContainerMetadata?
    var template: RecordTemplate
    var extraPrefix: [UInt8] = []  // the template's Extra without its closing brace, for lines with attrs

    struct OpenFile {
        var file: ChainFile
        /// `file`'s identity, kept here too: positions are made from it for every record.
        var identity: FileIdentity
        var readOffset: Int64
        /// Reading the rotated copy of a copytruncate: stop here, then restart the live file at 0.
        var limit: Int64? = nil
        /// When the file's first entry was written (taken when its first piece is read), for positions.
        var startTime: Int64? = nil

        /// The position in this file at `offset`.
        func position(_ offset: Int64, entryTime: Int64?) -> FilePosition {
            var p = identity.position(path: file.path, offset: offset, entryTime: entryTime)
            p.fileStartTime = startTime
            return p
        }
    }
    /// The live file while its rotated copy is read.
    private var liveAside: OpenFile?
    /// Set while rotation copies and truncates the file: the tailer does not read it meanwhile.
    var heldSince: ContinuousClock.Instant?
    var file: OpenFile? { didSet { refreshPositionBase() } }
    /// The end of the last file read to its end, for positions between two files.
    private var lastFinished: FilePosition? { didSet { refreshPositionBase() } }
    /// The position of the open file with everything but the offset filled in: a record's position is a copy.
    private var positionBase: FilePosition?
    /// Counts the files read, so a message open across a file change knows where it began.
    var fileSerial = 0
    /// Set when the chain handed over its next file, until something is read from it.
    private var tookNextFile = false
    private var checkpoint: FilePosition?
    private var startAtEnd: Bool
    private var started = false
    private var recordStart = false
    /// Offset just past the last complete line handled.
    var consumed: Int64 = 0
    var carry: [UInt8] = []
    var carryOversize = false
    /// When the newest entry read was written (ns since the epoch), for positions (taken once per piece, from the
    /// last line decoded).
    var lastEntryTime: Int64? { didSet { refreshPositionBase() } }
    /// After a restart with messages open: lines before `until` are read again only to rebuild those messages
    /// (by stream slot, from their first piece on); others there were shipped already.
    var replay: (until: Int64, starts: [Int64?])?

    struct Pending {
        var message: [UInt8]
        var time: [UInt8]
        var attrs: [UInt8]
        var startOffset: Int64
        /// Where the message began when that is an earlier file than the one being read: that file's identity and
        /// end (`offset`), and its serial.
        var origin: (position: FilePosition, serial: Int)?
        var truncated: Bool
        /// When it was opened and when its last piece was read (monotonic), and that piece's entry time.
        var openedAt: ContinuousClock.Instant
        var lastPieceAt: ContinuousClock.Instant
        var lastPieceTime: Int64?
    }
    var pending: [Pending?] = [nil, nil, nil]
    var pendingCount = 0
    /// Since when the tailer has found nothing new to read (nil while it reads).
    var idleSince: ContinuousClock.Instant?

    var line = DockerLine()
    var timeScratch: [UInt8] = []
    var extraScratch: [UInt8] = []
    var tally = Tally()
    private(set) var gone = false

    struct Tally {
        var records = 0, bytes = 0, malformed = 0, oversize = 0, truncated = 0, replaced = 0, nul = 0, flushed = 0,
            cut = 0
    }

    static let readSize = 256 * 1024
    static let streamNames = ["stdout", "stderr", "other"]

    init(
        id: String, directory: String, settings: DockerSettings, host: HostIdentity, maxRecordBytes: Int,
        checkpoint: SourcePosition?, startAtEnd: Bool, ledger: PendingLedger, counters: Counters, logger: Logger,
        shape: RecordShape = .everyColumn,
        filter: RecordFilter = RecordFilter(filters: FilterSettings(), redaction: RedactionSettings()),
        driver: LogDriver = .jsonFile
    ) {
        self.maxRecordBytes = maxRecordBytes
        self.id = id
        self.directory = directory
        self.driver = driver
        framed = driver == .local
        let (chainDirectory, base) = driver.chain(directory: directory, id: id)
        logPath = chainDirectory + "/" + base
        key = "docker/" + id
        self.settings = settings
        self.host = host
        self.ledger = ledger
        if case .file(let position)? = checkpoint { self.checkpoint = position }
        self.startAtEnd = startAtEnd
        self.logger = logger
        self.shape = shape
        self.filter = filter
        filterPassThrough = filter.isPassThrough
        let clock: any EntryClock = framed ? LocalLogClock() : JSONFileClock()
        chain = LogChain(
            directory: chainDirectory, base: base, clock: clock, label: String(id.prefix(12)), counters: counters,
            logger: logger)
        template = RecordTemplate(
            host: host, source: "docker", moduleId: String(id.prefix(12)), containerId: id, shape: shape)
        route = filter.route(kind: .container, module: String(id.prefix(12)))
        reloadMetadata()
    }

    var name: String { metadata?.name ?? String(id.prefix(12)) }

    /// Re-reads config.v2.json (a container restart rewrites it). Returns true if something changed.
    @discardableResult
    func reloadMetadata() -> Bool {
        guard case .success(let meta) = ContainerMetadata.load(directory + "/config.v2.json") else { return false }
        guard meta != metadata else { return false }
        let renamed = meta.name != name
        metadata = meta
        if renamed { route = filter.route(kind: .container, module: name) }
        chain.setLabel(meta.name.isEmpty ? String(id.prefix(12)) : meta.name)
        let labels = meta.labels.filter { Glob.selects($0.0, patterns: settings.labels) }
        let extra: JSONValue =
            labels.isEmpty ? .object([]) : .object([("labels", .object(labels.map { ($0.0, .string($0.1)) }))])
        template = RecordTemplate(
            host: host, source: "docker", moduleId: meta.name, containerId: id, containerImage: meta.image, extra: extra,
            shape: shape)
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
        guard openIfNeeded(into: &chunk) else {
            if !chunk.isEmpty { return true }
            markIdle()
            return false
        }
        guard var f = file else { return false }
        if f.limit == nil && chain.giveUpCurrent.load(ordering: .relaxed) {
            // Deleted by dockerd and past the files kept open: its rest is given up (counted) for newer files.
            chain.giveUpCurrent.store(false, ordering: .relaxed)
            let rest = max(0, (f.file.plainSize() ?? f.readOffset) - f.readOffset)
            chain.abandonRest(bytes: rest)
            carry.removeAll()
            carryOversize = false
            flushAllPending(into: &chunk)
            finishFile(into: &chunk)
            return true
        }
        let want = f.limit.map { Int(max(0, min(Int64(buffer.count), $0 - f.readOffset))) } ?? buffer.count
        if want == 0 {
            markIdle()
            return false
        }
        let n: Int
        do {
            n = try buffer.withUnsafeMutableBytes { b in
                try f.file.read(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<want]), at: f.readOffset)
            }
        } catch {
            // Tried again at the next turn (a compressed file that cannot be read is given up at its end instead).
            logger.error("\(name): cannot read \(f.file.path): \(error)")
            counters.add(.readErrors)
            markIdle()
            return false
        }
        if n == 0 {
            if f.limit != nil {
                markIdle()
                return false
            }
            if recordStart {
                // Starting at the end of a file seen for the first time: commit that as the position, or the
                // next start would skip what was written in between.
                recordStart = false
                chunk.finalPosition = position(f.readOffset)
                return true
            }
            if atEndOfFile(into: &chunk, counters: counters) { return true }
            markIdle()
            return false
        }
        idleSince = nil
        recordStart = false
        if tookNextFile {
            tookNextFile = false
            chain.resumed()
        }
        let base = f.readOffset
        f.readOffset += Int64(n)
        if f.startTime == nil && base == 0 {
            f.startTime = buffer.withUnsafeBufferPointer { chain.clock.firstTime(UnsafeBufferPointer(rebasing: $0[0..<n])) }
        }
        if !f.identity.isComplete && !f.file.compressed && f.limit == nil {
            // The fingerprint grows with the file until it covers the first line.
            f.file.refreshIdentity()
            f.identity = f.file.identity
            chain.update(f.file)
        }
        file = f
        tally.bytes += n
        buffer.withUnsafeBufferPointer { process(UnsafeBufferPointer(rebasing: $0[0..<n]), base: base, into: &chunk) }
        if let t = line.time.withUnsafeBufferPointer({ Timestamp.parse($0) }) {
            lastEntryTime = JSONFileClock.nanos(t)
        }
        chunk.finalPosition = position(consumed)
        return true
    }

    private func markIdle() {
        if idleSince == nil { idleSince = .now }
    }

    /// Opens the chain at the checkpoint (or per `readFrom`) the first time, then the next file of the chain once
    /// one was read to its end. False while there is nothing to open.
    private func openIfNeeded(into chunk: inout RecordChunk) -> Bool {
        if file != nil { return true }
        if !started {
            guard let start = chain.start(position: checkpoint, atEnd: startAtEnd && checkpoint == nil) else {
                if directoryGone { gone = true }
                return false
            }
            started = true
            var offset = start.offset
            if let position = checkpoint, start.resumed {
                lastEntryTime = position.entryTime
                if !position.openPartials.isEmpty {
                    var starts: [Int64?] = [nil, nil, nil]
                    for (stream, at) in position.openPartials {
                        if let slot = Self.streamNames.firstIndex(of: stream) { starts[slot] = at }
                    }
                    let from = starts.compactMap { $0 }.min() ?? position.offset
                    replay = (position.offset, starts)
                    offset = min(offset, from)
                }
            }
            if startAtEnd && checkpoint == nil { recordStart = true }
            startAtEnd = false
            checkpoint = nil
            file = OpenFile(
                file: start.file, identity: start.file.identity, readOffset: offset,
                startTime: offset > 0 ? firstEntryTime(start.file) : nil)
            consumed = offset
            fileSerial += 1
            return true
        }
        guard let next = chain.next() else {
            if directoryGone {
                // The container is gone and every file it left was read: what is still open is complete.
                gone = true
                flushAllPending(into: &chunk)
            }
            return false
        }
        file = OpenFile(file: next, identity: next.identity, readOffset: 0)
        consumed = 0
        fileSerial += 1
        tookNextFile = true
        // The first position in the new file goes out now, so a restart does not look for the old one.
        chunk.finalPosition = position(0)
        return true
    }

    /// When the first entry of `file` was written.
    func firstEntryTime(_ file: ChainFile) -> Int64? {
        file.head(64 * 1024).withUnsafeBufferPointer { chain.clock.firstTime($0) }
    }

    private var directoryGone: Bool {
        do { return try FileSystem.status(directory) == nil } catch { return false }
    }

    // MARK: copytruncate coordination

    /// True if `path` names the live file this tailer reads (same device and inode: paths may be spelled
    /// differently, e.g. with `//` or through a symlinked folder).
    func follows(_ path: String) -> Bool {
        guard let live = file?.limit == nil ? file : liveAside, !live.file.compressed else { return false }
        guard let st = try? FileSystem.statusFollowingLinks(path) else { return false }
        return live.identity.sameFile(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }
    var readOffset: Int64 { file?.readOffset ?? 0 }

    /// The size of the open file now (0 if none is open).
    var liveSize: Int64 { file?.file.status().map { Int64($0.st_size) } ?? 0 }

    /// Rotation truncated the live file at `truncatedAt` after copying it to `copy`: read what is left up to there
    /// from the copy. Returns false if the copy cannot be used (then the live file simply restarts at 0).
    func beginCopy(_ copy: String, truncatedAt: Int64) -> Bool {
        guard let live = file, live.limit == nil, live.readOffset < truncatedAt else { return false }
        guard let opened = try? ChainFile.open(copy, compressed: false) else {
            logger.error("\(name): cannot open the rotated copy \(copy); lines up to its end may be missing")
            return false
        }
        liveAside = live
        file = OpenFile(
            file: opened, identity: opened.identity, readOffset: live.readOffset, limit: truncatedAt,
            startTime: firstEntryTime(opened))
        return true
    }

    /// Back to the live file, at 0 (it was truncated).
    func restartLive() {
        if let f = file, f.limit != nil { file = liveAside }
        liveAside = nil
        guard var live = file else { return }
        live.readOffset = 0
        live.startTime = nil
        live.file.refreshIdentity()
        live.identity = live.file.identity
        chain.update(live.file)
        file = live
        consumed = 0
        for i in pending.indices where pending[i] != nil {
            pending[i]!.startOffset = 0
            pending[i]!.origin = nil
        }
    }

    /// At the end of the open file: truncated? rotated or deleted (then on to the next file)? or nothing new.
    private func atEndOfFile(into chunk: inout RecordChunk, counters: Counters) -> Bool {
        guard let f = file else { return false }
        if f.file.compressed {
            if let damage = f.file.damage {
                logger.error("\(name): \(f.file.path) cannot be read to its end (\(damage)); going on with the next file")
                counters.add(.readErrors)
            }
            finishFile(into: &chunk)
            return true
        }
        guard let st = f.file.status() else { return false }
        let size = Int64(st.st_size)
        let isLive = ((try? FileSystem.status(logPath)) ?? nil).map {
            f.identity.sameFile(device: UInt64($0.st_dev), inode: UInt64($0.st_ino))
        } ?? false
        if isLive {
            let identity = f.identity
            let refilled =
                identity.fingerprintLength > 0
                && !f.file.head(identity.fingerprintLength).withUnsafeBufferPointer { identity.contentMatches($0) }
            guard size < f.readOffset || refilled else { return false }
            // Truncated in place (copytruncate by someone): what was read is kept, reading starts over at 0.
            logger.info("\(name): \(f.file.path) was truncated; reading it again from its start")
            counters.add(.filesTruncatedDetected)
            flushAllPending(into: &chunk)
            carry.removeAll()
            carryOversize = false
            f.file.refreshIdentity()
            chain.update(f.file)
            file = OpenFile(file: f.file, identity: f.file.identity, readOffset: 0)
            consumed = 0
            chunk.finalPosition = position(0)
            return true
        }
        // Renamed away or deleted by dockerd: it does not grow any more once a newer file exists or it is no
        // longer the live file, but the last writes may have come after this read.
        if size > f.readOffset { return true }
        finishFile(into: &chunk)
        return true
    }

    /// The open file is read to its end: hand over to the chain's next file. Messages still open continue there
    /// (Docker may rotate between two pieces of one message).
    private func finishFile(into chunk: inout RecordChunk) {
        guard let f = file else { return }
        if !carry.isEmpty { finishCarry(into: &chunk, end: f.readOffset) }
        let end = consumed
        for i in pending.indices where pending[i] != nil && pending[i]!.origin == nil {
            pending[i]!.origin = (f.position(end, entryTime: lastEntryTime), fileSerial)
        }
        chain.finish(f.file, lastTime: lastEntryTime)
        lastFinished = f.position(end, entryTime: lastEntryTime)
        file = nil
        replay = nil
        consumed = 0
        carry.removeAll(keepingCapacity: false)
        carryOversize = false
    }

    private func refreshPositionBase() {
        if let f = file {
            positionBase = f.position(0, entryTime: lastEntryTime)
        } else {
            positionBase = lastFinished
        }
    }

    /// The position after everything handled up to `offset` of the open file (or the end of the last file read,
    /// between two files), with the messages still open.
    func position(_ offset: Int64) -> SourcePosition? {
        guard var base = positionBase else { return nil }
        if file != nil { base.offset = offset }
        if pendingCount == 0 { return .file(base) }
        var here: [String: Int64] = [:]
        var earliest: (position: FilePosition, serial: Int)?
        for slot in pending.indices {
            guard let p = pending[slot] else { continue }
            if let origin = p.origin {
                if earliest == nil || origin.serial < earliest!.serial { earliest = origin }
            } else {
                here[Self.streamNames[slot]] = p.startOffset
            }
        }
        guard let earliest else {
            var position = base
            if file != nil { position.openPartials = here }
            return .file(position)
        }
        // A message began in an earlier file: the position stays there (its end), with the messages begun there.
        var position = earliest.position
        for slot in pending.indices {
            if let p = pending[slot], let origin = p.origin, origin.serial == earliest.serial {
                position.openPartials[Self.streamNames[slot]] = p.startOffset
            }
        }
        return .file(position)
    }

    /// Adds what was tallied since the last call to the counters.
    func settle(_ counters: Counters) { flush(tally: counters) }

    private func flush(tally counters: Counters) {
        counters.add(.recordsRead, tally.records)
        counters.add(.bytesRead, tally.bytes)
        counters.add(.recordsReadDocker, tally.records)
        counters.add(.bytesReadDocker, tally.bytes)
        counters.add(.linesMalformed, tally.malformed)
        counters.add(.linesOversize, tally.oversize)
        counters.add(.messagesTruncated, tally.truncated)
        counters.add(.invalidUTF8Replaced, tally.replaced)
        counters.add(.nulBytesSkipped, tally.nul)
        counters.add(.partialsFlushed, tally.flushed)
        counters.add(.partialsCut, tally.cut)
        tally = Tally()
        filter.flush(to: counters)
    }

    /// Appends the rate limits' reports as records at this tailer's current position (everything before it was
    /// handed on already). False if the tailer has no position yet (nothing opened), then nothing is appended.
    func append(summaries: [RateLimitSummary], into chunk: inout RecordChunk) -> Bool {
        guard !summaries.isEmpty else { return true }
        guard let at = chunk.finalPosition ?? position(consumed) else { return false }
        for summary in summaries {
            summary.encode(host: host, shape: shape, maxBytes: maxRecordBytes, to: &chunk.data)
            chunk.closeRecord(at: at)
        }
        chunk.finalPosition = at
        return true
    }

    /// Files and plain bytes still to read after the open file (compressed files by their trailer's size).
    var backlogBeyondOpenFile: (files: Int, bytes: Int64) { chain.queued }
}
