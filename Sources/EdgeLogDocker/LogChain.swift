import EdgeLogCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One container's rotation chain as dockerd writes it (`<base>.N[.gz]` … `<base>.1[.gz]`, then `<base>`), known
/// by identity rather than by name: device and inode, and a fingerprint of the first bytes that survives
/// compression. Knows nothing of the line format (an `EntryClock` tells it entry times, for loss estimates).
///
/// - Order: files are read oldest first, each to its end, then the next newer one. A file is opened as soon as it
///   is seen and kept open until it is read, so renames, compression and deletion by dockerd meanwhile cost
///   nothing. At most as many deleted files are kept as dockerd keeps on disk (past that the oldest is given up
///   and counted), so a reader far behind cannot hold more than twice dockerd's disk budget.
/// - Gaps: files dockerd deleted before they were seen (rotations faster than the chain is looked at, or while
///   EdgeLog was stopped) are counted once per event, with the bytes lost estimated from the entries' times.
///
/// Looked at by the reading task and by the inotify thread (`observe`), so its state is behind a lock.
final class LogChain: Sendable {
    let directory: String
    let base: String
    let clock: any EntryClock
    private let counters: Counters
    private let logger: Logger
    private let state: Mutex<State>
    /// Set when the file being read was deleted and is past the limit of files kept open: the reader gives up its
    /// rest (`abandonRest`) and goes on with the next one. Read by the reader once per piece.
    let giveUpCurrent = Atomic<Bool>(false)

    enum Status { case queued, current, read }

    struct Entry {
        let serial: Int
        var identity: FileIdentity
        var status: Status
        /// Open while queued or current.
        var file: ChainFile?
        var rotatedName: Bool
        /// Size when it was read to its end.
        var size: Int64? = nil
        var lastTime: Int64? = nil
    }

    struct Gap {
        var files = 0
        var bytes: Int64 = 0
        var estimated = false
    }

    struct State {
        var entries: [Entry] = []
        var nextSerial = 0
        var started = false
        var label: String
        var onDisk = 0
        /// Compressed files seen: device and inode, and the serial of the entry they are a copy of (nil: none).
        var compressedSeen: [(device: UInt64, inode: UInt64, serial: Int?)] = []
        var gap: Gap?
        var givingUpCurrent = false
    }

    /// How many files already read are remembered (to recognise them again under another name).
    static let rememberedFiles = 16

    init(directory: String, base: String, clock: any EntryClock, label: String, counters: Counters, logger: Logger) {
        self.directory = directory
        self.base = base
        self.clock = clock
        self.counters = counters
        self.logger = logger
        state = Mutex(State(label: label))
    }

    var livePath: String { directory + "/" + base }

    /// The container's name for log lines (it may change when `config.v2.json` is read again).
    func setLabel(_ label: String) { state.withLock { $0.label = label } }

    // MARK: starting

    struct Start {
        var file: ChainFile
        var offset: Int64
        /// The position's file was found: its open partials apply.
        var resumed: Bool
    }

    /// Opens the chain for reading: at `position` if its file is still there (under any name, compressed or not),
    /// else at the oldest file (counting a gap when the position's file is gone), or with no position at the live
    /// file's end (`atEnd`) or the oldest file's start. Nil while there is no file at all (call again later).
    func start(position: FilePosition?, atEnd: Bool) -> Start? {
        state.withLock { s -> Start? in
            guard !s.started else { return nil }
            let files = openAll()
            guard !files.isEmpty else { return nil }
            s.started = true
            s.onDisk = files.count
            var currentIndex = 0
            var offset: Int64 = 0
            var resumed = false
            if let position {
                if let found = Self.find(position, in: files.map(\.file)) {
                    currentIndex = found
                    resumed = true
                    let size = files[found].file.plainSize() ?? 0
                    offset = position.offset
                    if size < offset {
                        logger.warning(
                            "\(s.label): \(files[found].file.path) is shorter than the committed position \(offset); reading it from its start"
                        )
                        offset = 0
                        resumed = false
                    }
                    if found < files.count - 1 {
                        logger.info(
                            "\(s.label): resuming in the rotated \(files[found].file.path) before \(files.count - 1 - found) newer file(s)"
                        )
                    }
                } else {
                    positionGone(position, oldest: files[0], files: files.map(\.file), &s)
                }
            } else if atEnd {
                currentIndex = files.count - 1
                offset = files[currentIndex].file.plainSize() ?? 0
            }
            for (i, f) in files.enumerated() {
                let status: Status = i < currentIndex ? .read : i == currentIndex ? .current : .queued
                s.entries.append(
                    Entry(
                        serial: s.nextSerial, identity: f.file.identity, status: status,
                        file: status == .read ? nil : f.file, rotatedName: !f.member.isLive,
                        size: status == .read ? f.file.plainSize() : nil))
                if f.file.compressed {
                    s.compressedSeen.append((f.file.identity.device, f.file.identity.inode, s.nextSerial))
                }
                s.nextSerial += 1
            }
            trim(&s)
            closeGap(&s)
            return Start(file: files[currentIndex].file, offset: offset, resumed: resumed)
        }
    }

    /// The index of the file in `files` that holds `position`: the one with its device and inode and the same first
    /// bytes, else the oldest with the same first bytes (compressed since, or a copy); nil if none does.
    static func find(_ position: FilePosition, in files: [ChainFile]) -> Int? {
        let wanted = FileIdentity(position)
        let length = wanted.fingerprintLength
        for (i, f) in files.enumerated() where !f.compressed && f.identity.sameFile(device: wanted.device, inode: wanted.inode) {
            if f.head(length).withUnsafeBufferPointer({ wanted.contentMatches($0) }) { return i }
        }
        guard length > 0 else { return nil }
        for (i, f) in files.enumerated() where f.head(length).withUnsafeBufferPointer({ wanted.contentMatches($0) }) {
            return i
        }
        return nil
    }

    /// Every member on disk, opened, oldest first.
    private func openAll() -> [(member: ChainMember, file: ChainFile)] {
        guard let names = try? FileSystem.list(directory) else { return [] }
        var result: [(ChainMember, ChainFile)] = []
        for member in ChainMember.ordered(names, base: base) {
            if let file = open(member) { result.append((member, file)) }
        }
        return result
    }

    private func open(_ member: ChainMember) -> ChainFile? {
        do {
            return try ChainFile.open(
                directory + "/" + member.name, compressed: member.compressed, framed: clock.framedEntries)
        } catch {
            logger.error("cannot open \(directory)/\(member.name): \(error)")
            counters.add(.readErrors)
            return nil
        }
    }

    /// The committed position's file is gone: reading starts at the oldest file there is. What lay between is
    /// estimated from the time of the last entry read and the first entry of the oldest file.
    private func positionGone(
        _ position: FilePosition, oldest: (member: ChainMember, file: ChainFile), files: [ChainFile], _ s: inout State
    ) {
        let firstNew = oldest.file.head(64 * 1024).withUnsafeBufferPointer { clock.firstTime($0) }
        if let lastRead = position.entryTime, let firstNew {
            var known = Known()
            known.add(files, chain: self)
            if let start = position.fileStartTime, lastRead > start, position.offset > 0 {
                // What was read of the vanished file before the position, and over what time.
                known.bytes += position.offset
                known.nanos += lastRead - start
            }
            let lost = estimateLoss(after: lastRead, before: firstNew, known: known)
            guard lost > 0 else {
                logger.info(
                    "\(s.label): the file of the committed position is gone; \(oldest.file.path) continues it, reading from there"
                )
                return
            }
            logger.warning(
                "\(s.label): the file of the committed position (\(position.path)) is gone and dockerd deleted what followed it before it could be read: about \(lost) bytes lost (estimated from the entries' times); reading from the oldest file, \(oldest.file.path)"
            )
            recordGap(files: 1, bytes: lost, estimated: true, &s, log: false)
        } else {
            logger.warning(
                "\(s.label): the file of the committed position (\(position.path)) is gone (rotated away or replaced while EdgeLog was stopped); reading from the oldest file, \(oldest.file.path); what was lost cannot be estimated"
            )
            recordGap(files: 1, bytes: 0, estimated: true, &s, log: false)
        }
        s.gap = nil
    }

    // MARK: following

    /// Looks at the folder: opens files newer than the newest one known, notices files deleted before they were
    /// seen, and gives up the oldest deleted ones past the limit. Any thread.
    func observe() {
        state.withLock { s in observe(&s) }
    }

    private func observe(_ s: inout State) {
        guard s.started, let names = try? FileSystem.list(directory) else { return }
        let members = ChainMember.ordered(names, base: base)
        s.onDisk = members.count
        // Files queued while they were still being written (a new live file is empty): their first line now.
        for i in s.entries.indices where s.entries[i].status == .queued {
            if let file = s.entries[i].file, !file.identity.isComplete {
                file.refreshIdentity()
                s.entries[i].identity = file.identity
            }
        }
        // Newest first down to the first member that is a file already known: everything newer is new.
        var newer: [ChainMember] = []
        var anchored = false
        var present: Set<Int> = []
        for member in members.reversed() {
            if let serial = serial(of: member, &s) {
                present.insert(serial)
                anchored = true
            } else if !anchored {
                newer.append(member)
            }
        }
        guard !newer.isEmpty else {
            enforceHoldLimit(&s, present: present)
            return
        }
        var opened: [(ChainMember, ChainFile)] = []
        for member in newer.reversed() {
            if let file = open(member) { opened.append((member, file)) }
        }
        if !anchored, let newest = s.entries.last, let first = opened.first {
            // Even the newest file known is gone from the folder: files may have come and gone unseen in between.
            unseenFiles(after: newest, before: first.1, &s)
        }
        for (member, file) in opened {
            present.insert(s.nextSerial)
            s.entries.append(
                Entry(serial: s.nextSerial, identity: file.identity, status: .queued, file: file, rotatedName: !member.isLive))
            if file.compressed {
                s.compressedSeen.removeAll { $0.device == file.identity.device && $0.inode == file.identity.inode }
                s.compressedSeen.append((file.identity.device, file.identity.inode, s.nextSerial))
            }
            s.nextSerial += 1
        }
        enforceHoldLimit(&s, present: present)
        trim(&s)
    }

    /// The serial of the known file (read, being read or queued) `member` is, under its name or compressed; nil
    /// for a file the chain does not know.
    private func serial(of member: ChainMember, _ s: inout State) -> Int? {
        let path = directory + "/" + member.name
        guard let st = try? FileSystem.status(path), st.st_mode & S_IFMT == S_IFREG else { return nil }
        let device = UInt64(st.st_dev)
        let inode = UInt64(st.st_ino)
        if !member.compressed {
            guard let i = s.entries.lastIndex(where: { $0.identity.sameFile(device: device, inode: inode) }) else {
                return nil
            }
            // An open file's inode cannot be reused; a file read and closed may have been replaced by a new one,
            // told apart by its first line.
            if s.entries[i].status != .read { return s.entries[i].serial }
            // A fingerprint short of a whole first line proves little: then the size must not have changed
            // either (a file read to its end does not grow).
            let identity = s.entries[i].identity
            guard identity.isComplete || s.entries[i].size == Int64(st.st_size),
                let file = try? ChainFile.open(path, compressed: false),
                file.head(identity.fingerprintLength).withUnsafeBufferPointer({ identity.contentMatches($0) })
            else { return nil }
            return s.entries[i].serial
        }
        if let seen = s.compressedSeen.first(where: { $0.device == device && $0.inode == inode }) {
            // A compressed file does not change: once it was some file known, it stays that (even when that file
            // is no longer remembered: it is older than all of them).
            return seen.serial
        }
        guard let file = try? ChainFile.open(path, compressed: true) else { return nil }
        let head = file.head(FileIdentity.fingerprintBytes)
        let match = head.withUnsafeBufferPointer { h in
            s.entries.last { $0.identity.fingerprintLength > 0 && $0.identity.contentMatches(h) }?.serial
        }
        s.compressedSeen.append((device, inode, match))
        if s.compressedSeen.count > 4 * Self.rememberedFiles { s.compressedSeen.removeFirst() }
        return match
    }

    /// Keeps at most as many deleted files open as dockerd keeps files: past that the oldest is given up, counted
    /// (first the rest of the one being read, so what was lost always lies before the position read from). A file
    /// that is only compressed (its content `present` on disk under a `.gz` name) is not deleted.
    private func enforceHoldLimit(_ s: inout State, present: Set<Int>) {
        let limit = max(2, s.onDisk)
        func gone(_ e: Entry) -> Bool { !present.contains(e.serial) && e.file?.isDeleted == true }
        let current = s.entries.lastIndex { $0.status == .current }
        let currentDeleted = !s.givingUpCurrent && current.map { gone(s.entries[$0]) } == true
        var deleted = s.entries.indices.filter { s.entries[$0].status == .queued && gone(s.entries[$0]) }
        var over = deleted.count + (currentDeleted ? 1 : 0) - limit
        guard over > 0, !s.givingUpCurrent else { return }
        if currentDeleted {
            // The reader gives up the file it reads first, then (if still over) the next: losses stay in order,
            // each before the position read from.
            s.givingUpCurrent = true
            giveUpCurrent.store(true, ordering: .relaxed)
            return
        }
        while over > 0 {
            let oldest = deleted.removeFirst()
            over -= 1
            let bytes = s.entries[oldest].file?.plainSize() ?? 0
            if let file = s.entries[oldest].file {
                file.refreshIdentity()
                s.entries[oldest].identity = file.identity
                s.entries[oldest].size = file.plainSize()
                s.entries[oldest].lastTime = lastTime(of: file)
            }
            s.entries[oldest].file = nil
            s.entries[oldest].status = .read
            recordGap(files: 1, bytes: bytes, estimated: false, &s, log: true)
        }
    }

    /// The reader gives up the rest of the file it reads (`giveUpCurrent` was set): `bytes` are lost.
    func abandonRest(bytes: Int64) {
        state.withLock { s in recordGap(files: 1, bytes: bytes, estimated: false, &s, log: true) }
    }

    /// The newest known file is gone and newer files appeared: estimate what came and went between them.
    private func unseenFiles(after newest: Entry, before first: ChainFile, _ s: inout State) {
        let lastKnown = newest.lastTime ?? newest.file.flatMap { lastTime(of: $0) }
        let firstNew = first.head(64 * 1024).withUnsafeBufferPointer { clock.firstTime($0) }
        guard let lastKnown, let firstNew else { return }
        var known = Known()
        if let held = newest.file { known.add([held], chain: self) }
        known.add([first], chain: self)
        let lost = estimateLoss(after: lastKnown, before: firstNew, known: known)
        if lost > 0 { recordGap(files: 1, bytes: lost, estimated: true, &s, log: true) }
    }

    /// The next file to read (the oldest queued one), or nil if there is none yet. Call `finish` for the one before.
    func next() -> ChainFile? {
        state.withLock { s -> ChainFile? in
            observe(&s)
            guard let i = s.entries.firstIndex(where: { $0.status == .queued }) else { return nil }
            s.entries[i].status = .current
            s.givingUpCurrent = false
            giveUpCurrent.store(false, ordering: .relaxed)
            counters.add(.filesRotatedFollowed)
            return s.entries[i].file
        }
    }

    /// True if a newer file than the one being read is known: the one being read will not grow any more.
    var hasNewer: Bool { state.withLock { s in s.entries.contains { $0.status == .queued } } }

    /// The file being read was read to its end (or given up), the last entry read written at `lastTime`.
    func finish(_ file: ChainFile, lastTime: Int64?) {
        let size = file.plainSize()
        // Where the file ends in time (what a later gap is measured from): its own last entry, when it has one.
        let end = self.lastTime(of: file).map { max($0, lastTime ?? $0) } ?? lastTime
        state.withLock { s in
            s.givingUpCurrent = false
            giveUpCurrent.store(false, ordering: .relaxed)
            guard let i = s.entries.lastIndex(where: { $0.status == .current }) else { return }
            s.entries[i].status = .read
            s.entries[i].file = nil
            s.entries[i].identity = file.identity
            s.entries[i].lastTime = end
            s.entries[i].size = size
        }
    }

    /// The file being read has a new identity (its fingerprint grew with it, or it was truncated and refilled).
    func update(_ file: ChainFile) {
        state.withLock { s in
            guard let i = s.entries.lastIndex(where: { $0.status == .current }) else { return }
            s.entries[i].identity = file.identity
        }
    }

    /// Files still to read after the current one, and their plain bytes (sizes of compressed ones from their
    /// trailer).
    var queued: (files: Int, bytes: Int64) {
        state.withLock { s in
            let q = s.entries.filter { $0.status == .queued }
            return (q.count, q.reduce(0) { $0 + ($1.file?.plainSize() ?? 0) })
        }
    }

    // MARK: gaps

    private func recordGap(files: Int, bytes: Int64, estimated: Bool, _ s: inout State, log: Bool) {
        if s.gap == nil {
            counters.add(.dockerRotationGaps)
            s.gap = Gap()
        }
        s.gap!.files += files
        s.gap!.bytes += bytes
        s.gap!.estimated = s.gap!.estimated || estimated
        counters.add(.dockerBytesLost, Int(clamping: bytes))
        if !log { s.gap = nil }
    }

    /// Reading goes on after a gap (the reader read something again): the gap is logged, once, however many files
    /// it took.
    func resumed() {
        state.withLock { s in closeGap(&s) }
    }

    private func closeGap(_ s: inout State) {
        guard let gap = s.gap else { return }
        s.gap = nil
        logger.warning(
            "\(s.label): dockerd deleted log files before EdgeLog could read them (it rotates faster than EdgeLog reads): \(gap.estimated ? "about " : "")\(gap.bytes) bytes lost in \(gap.files) file(s)\(gap.estimated ? ", estimated from the entries' times" : "")"
        )
    }

    /// What is known around a gap: bytes and the time they were written over (on both sides of it).
    struct Known {
        var bytes: Int64 = 0
        var nanos: Int64 = 0
        var entryBytes: Double?

        /// A contiguous run of files (oldest first): their bytes, from the first entry of the first to the last
        /// entry of the last.
        mutating func add(_ files: [ChainFile], chain: LogChain) {
            guard let firstFile = files.first, let lastFile = files.last else { return }
            let head = firstFile.head(64 * 1024)
            guard let first = head.withUnsafeBufferPointer({ chain.clock.firstTime($0) }),
                let last = chain.lastTime(of: lastFile), last > first
            else { return }
            let sizes = files.compactMap { $0.plainSize() }
            guard sizes.count == files.count else { return }
            bytes += sizes.reduce(0, +)
            nanos += last - first
            if entryBytes == nil {
                let entries = max(1, head.withUnsafeBufferPointer { chain.clock.entries($0) })
                entryBytes = Double(min(Int64(head.count), sizes[0])) / Double(entries)
            }
        }
    }

    /// Bytes written between two entry times, at the average rate of what is known around the gap (a writer's
    /// rate comes in bursts: the longer the time known, the closer), less one entry (two neighbouring entries are
    /// that far apart). 0 if nothing was lost.
    private func estimateLoss(after lastRead: Int64, before firstNew: Int64, known: Known) -> Int64 {
        guard firstNew > lastRead, known.nanos > 0, known.bytes > 0, let entryBytes = known.entryBytes else { return 0 }
        let rate = Double(known.bytes) / Double(known.nanos)  // bytes per nanosecond
        let lost = Double(firstNew - lastRead) * rate - entryBytes
        return lost > entryBytes / 2 ? Int64(lost.rounded()) : 0
    }

    /// When the last entry of `file` was written: from its end, or for a compressed file from dockerd's gzip header.
    func lastTime(of file: ChainFile) -> Int64? {
        if file.compressed {
            guard let extra = file.gzipExtra(), let doc = try? JSONParser.parse(extra),
                let text = doc["lastTime"]?.stringValue, let t = Timestamp.parse(text)
            else { return nil }
            return JSONFileClock.nanos(t)
        }
        return file.tail(64 * 1024).withUnsafeBufferPointer { clock.lastTime($0) }
    }

    private func trim(_ s: inout State) {
        let read = s.entries.indices.filter { s.entries[$0].status == .read }
        if read.count > Self.rememberedFiles {
            let drop = Set(read.prefix(read.count - Self.rememberedFiles))
            s.entries = s.entries.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
        }
    }
}
