import CSystemd
import EdgeLogCore
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Every sd-journal call EdgeLog makes, on one thread (sd_journal handles are not thread-safe): opening the
/// directory or files, the unit/identifier/priority matches, positioning at a cursor, reading entries into
/// record chunks, and waiting for new ones.
final class JournalReader {
    let settings: JournalSettings
    let context: SourceContext
    private var j: OpaquePointer?
    private var probe = JournalFileProbe()
    /// Moved into a local variable while reading (see `read`).
    private var mapper: JournalEntryMapper?
    private var missingReported = false
    private var iterationErrorReported = false
    private var entryErrorReported = false
    /// The filters and redaction (the mapper applies them per entry; the reader emits the rate limits' reports).
    let filter: RecordFilter
    private let shape: RecordShape
    /// The cursor of the last entry read, where the rate limits' reports are placed.
    private var lastCursor: String?
    /// Host entries are collected (`journal.enabled`); container entries are when `containers` is set.
    let hostEntries: Bool
    let containers: JournalContainers?
    /// Moved into a local variable while reading, like `mapper`.
    private var encoder: ContainerEntryEncoder?
    /// The cursor of the entry read last ("" before the first), for a split message's first piece.
    private var previousCursor = ""
    /// Monotonic nanoseconds, for split messages left open.
    private let monotonicNanos: () -> UInt64

    init(
        settings: JournalSettings, context: SourceContext, records: RecordSettings = RecordSettings(),
        filter: RecordFilter = RecordFilter(filters: FilterSettings(), redaction: RedactionSettings()),
        hostEntries: Bool = true, containers: JournalContainers? = nil
    ) {
        self.settings = settings
        self.context = context
        self.filter = filter
        self.hostEntries = hostEntries
        self.containers = containers
        let shape = RecordShape(records)
        self.shape = shape
        mapper = JournalEntryMapper(
            settings: settings, host: context.host, maxRecordBytes: context.maxRecordBytes, shape: shape, filter: filter,
            containersOn: containers != nil)
        encoder = containers.map {
            ContainerEntryEncoder(
                settings: $0, host: context.host, shape: shape, filter: filter, maxRecordBytes: context.maxRecordBytes,
                logger: context.logger)
        }
        monotonicNanos = {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
        }
    }

    deinit { if let j { sd_journal_close(j) } }

    var logger: Logger { context.logger }
    var isOpen: Bool { j != nil }
    private var what: String { settings.files.isEmpty ? settings.directory : "journal.files" }

    // MARK: opening

    /// Opens the directory (or the files). False (with a warning, once until it works) if there is nothing to open.
    func open() -> Bool {
        var handle: OpaquePointer?
        let r: Int32
        if settings.files.isEmpty {
            r = settings.directory.withCString { sd_journal_open_directory(&handle, $0, 0) }
            if r >= 0 { _ = probe.check(JournalFileProbe.journalFiles(in: settings.directory), logger: logger, counters: context.counters) }
        } else {
            let present = settings.files.filter { access($0, F_OK) == 0 }
            let good = probe.check(present, logger: logger, counters: context.counters)
            if good.isEmpty {
                r = -ENOENT
            } else {
                r = withCStrings(good) { sd_journal_open_files(&handle, $0, 0) }
                if good.count < settings.files.count {
                    let left = Set(settings.files).subtracting(good).sorted().joined(separator: ", ")
                    logger.warning("journal.files: not reading \(left) (missing or unreadable)")
                }
            }
        }
        guard r >= 0, let handle else {
            if !missingReported {
                missingReported = true
                let error = -r
                if error == ENOENT {
                    logger.warning(
                        "the journal \(what) does not exist (yet): mount the host's /var/log/journal (or /run/log/journal) read-only; looking again every \(settings.pollIntervalSeconds) s"
                    )
                } else {
                    logger.error("cannot open the journal \(what): \(JournalFileProbe.describe(error)); trying again every \(settings.pollIntervalSeconds) s")
                }
            }
            return false
        }
        if missingReported { logger.info("the journal \(what) is there now; reading it") }
        missingReported = false
        j = handle
        // Data objects past this are returned cut (a hint to sd-journal: compressed fields are not inflated further).
        let longest = containers == nil ? Int(settings.maxFieldBytes) : max(Int(settings.maxFieldBytes), JournalEntryMapper.containerPieceBytes)
        sd_journal_set_data_threshold(handle, longest + 65)
        return true
    }

    /// Sets up inotify before the first read (follow mode), so nothing appended in between is missed.
    func prepareToFollow() {
        let fd = sd_journal_get_fd(j)
        if fd < 0 {
            logger.warning(
                "journal: cannot watch for new entries (inotify: \(JournalFileProbe.describe(-fd))); looking every \(settings.pollIntervalSeconds) s instead")
        }
    }

    /// The unit and identifier matches (OR-ed), AND the priority match when it can be done by sd-journal.
    /// Added after positioning, so the saved cursor is found even if the filters changed since it was saved.
    /// None when container entries are collected: sd-journal cannot match "has CONTAINER_ID_FULL", so the host
    /// filters are then applied to each entry as it is read (`JournalEntryMapper.hostSelected`).
    func addMatches() {
        guard containers == nil else { return }
        let units = settings.units.map(Self.mangleUnit)
        for unit in units { addMatch("_SYSTEMD_UNIT=" + unit) }
        if !units.isEmpty && !settings.identifiers.isEmpty { sd_journal_add_disjunction(j) }
        for identifier in settings.identifiers { addMatch("SYSLOG_IDENTIFIER=" + identifier) }
        // An entry without PRIORITY counts as 6, which a PRIORITY=0…6 match would drop: from 6 up, priority is
        // checked on each entry instead (see `read`).
        if settings.maxPriority < 6 {
            if !units.isEmpty || !settings.identifiers.isEmpty { sd_journal_add_conjunction(j) }
            for p in 0...settings.maxPriority { addMatch("PRIORITY=\(p)") }
        }
    }

    private func addMatch(_ match: String) {
        let r = match.withCString { sd_journal_add_match(j, $0, 0) }
        if r < 0 { logger.error("journal match \(match) not added: \(JournalFileProbe.describe(-r))") }
    }

    /// `aziot-edged` → `aziot-edged.service`, as `journalctl -u` does; names with a type suffix stay as they are.
    static func mangleUnit(_ name: String) -> String {
        let types = ["service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope"]
        if let dot = name.lastIndex(of: "."), types.contains(String(name[name.index(after: dot)...])) { return name }
        return name + ".service"
    }

    // MARK: positioning

    /// Positions the journal for the first read: just past `saved`, or by `readFrom`. Returns a cursor to commit
    /// at once when starting at the end (so a restart continues from there, not from a later end).
    func position(saved: String?) -> String? {
        if let saved, let held = HeldCursor(saved), encoder != nil {
            // Split container messages were open: read again from before the first piece of the oldest one.
            encoder?.startReplay(held)
            logger.info("journal: reading again from the first piece of \(held.open.count) split container message(s) open when EdgeLog stopped")
            if held.hold.isEmpty {
                sd_journal_seek_head(j)
                return nil
            }
            previousCursor = held.hold
            return resume(at: held.hold)
        }
        if let saved, let held = HeldCursor(saved) {
            // Saved while container entries were collected, now they are not: continue after the last one handled.
            previousCursor = held.through
            return resume(at: held.through)
        }
        if let saved {
            previousCursor = saved
            return resume(at: saved)
        }
        let readFrom = hostEntries ? settings.readFrom : containers?.readFrom ?? settings.readFrom
        if readFrom == "beginning" {
            sd_journal_seek_head(j)
            logger.info("journal: no saved cursor; reading from the oldest entry")
            return nil
        }
        sd_journal_seek_tail(j)
        guard sd_journal_previous(j) > 0, let last = cursor() else {
            sd_journal_seek_head(j)
            return nil
        }
        logger.info("journal: no saved cursor; reading new entries only (\(hostEntries ? "journal" : "docker").readFrom \"end\")")
        previousCursor = last
        return last
    }

    private func resume(at saved: String) -> String? {
        let found = saved.withCString { c -> Bool in
            sd_journal_seek_cursor(j, c) >= 0 && sd_journal_next(j) > 0 && sd_journal_test_cursor(j, c) > 0
        }
        if found {
            logger.debug("journal: continuing after the saved cursor")
            return nil
        }
        context.counters.add(.journalCursorGaps)
        if let t = JournalCursor.realtime(saved) {
            sd_journal_seek_realtime_usec(j, t &+ 1)
            var time: [UInt8] = []
            Timestamp.appendRFC3339(microseconds: t, to: &time)
            logger.warning(
                "journal: the saved cursor's entry is gone (the journal was vacuumed or rotated away while EdgeLog was stopped); continuing with the oldest entry after \(String(decoding: time, as: UTF8.self)); entries removed in between are lost"
            )
        } else {
            sd_journal_seek_head(j)
            logger.error("journal: the saved cursor \"\(saved)\" cannot be used; reading the journal from its oldest entry (entries may be sent again)")
        }
        return nil
    }

    private func cursor() -> String? { Self.cursor(j) }

    private static func cursor(_ j: OpaquePointer?) -> String? {
        var c: UnsafeMutablePointer<CChar>?
        guard sd_journal_get_cursor(j, &c) >= 0, let c else { return nil }
        defer { free(c) }
        return String(cString: c)
    }

    // MARK: reading

    /// Reads up to `maxEntries` entries (or about `maxBytes` of records) into `chunk`; the chunk's positions are the
    /// entries' cursors. Returns false at the current end of the journal (or after a read error).
    func read(into chunk: inout RecordChunk, maxEntries: Int, maxBytes: Int) -> Bool {
        // Locals, not properties, on the hot path: no dynamic exclusivity checks per field.
        guard let j, var mapper = self.mapper.take() else { return false }
        var encoder = self.encoder.take()
        defer {
            flush(&mapper.tally)
            if encoder != nil { flush(&encoder!.tally) }
            self.mapper = mapper
            self.encoder = encoder
        }
        let maxPriority = settings.maxPriority
        let (hostEntries, filterHost) = (self.hostEntries, encoder != nil)
        let now = encoder == nil ? 0 : monotonicNanos()
        var entries = 0
        while entries < maxEntries && chunk.data.count < maxBytes {
            let r = sd_journal_next(j)
            if r == 0 {
                encoder?.endReplay(after: nil)
                return false
            }
            if r < 0 {
                context.counters.add(.readErrors)
                if !iterationErrorReported {
                    iterationErrorReported = true
                    logger.error("journal: cannot move to the next entry: \(JournalFileProbe.describe(-r))")
                }
                return false
            }
            entries += 1
            guard let position = Self.cursor(j) else {
                entryError("an entry without a cursor", -EBADMSG)
                continue
            }
            // Held before an open split message's first piece (see ContainerEntryEncoder), else the entry's cursor.
            chunk.finalPosition = encoder?.position(position) ?? .cursor(position)
            var realtime: UInt64 = 0
            let rt = sd_journal_get_realtime_usec(j, &realtime)
            if rt < 0 {
                entryError("an entry without a readable timestamp", rt)
                continue
            }
            mapper.begin()
            sd_journal_restart_data(j)
            var data: UnsafeRawPointer?
            var length = 0
            while true {
                let d = sd_journal_enumerate_available_data(j, &data, &length)
                if d == 0 { break }
                if d < 0 {
                    entryError("a field that cannot be read (the entry is sent with the fields read before it)", d)
                    break
                }
                guard let data else { continue }
                mapper.add(UnsafeBufferPointer(start: data.assumingMemoryBound(to: UInt8.self), count: length))
            }
            let before = previousCursor
            previousCursor = position
            if encoder != nil {
                defer { encoder!.endReplay(after: position) }
                if mapper.isContainerEntry {
                    if mapper.messageWasCut { mapper.tally.messagesTruncated += 1 }
                    mapper.withMessage { message in
                        encoder!.take(
                            id: mapper.containerField(.idFull) ?? "", name: mapper.containerField(.name) ?? "",
                            image: mapper.containerField(.image) ?? "", priority: mapper.rawPriority, message: message,
                            partialId: mapper.containerField(.partialId), last: mapper.containerField(.partialLast),
                            partialMessage: mapper.containerField(.partialMessage), realtime: realtime, cursor: position,
                            before: before, now: now, into: &chunk)
                    }
                    continue
                }
                if encoder!.isReplaying { continue }
            }
            guard hostEntries, mapper.level <= maxPriority, !filterHost || mapper.hostSelected else { continue }
            // A dropped entry moves only `finalPosition` (above).
            let at = encoder?.position(position) ?? .cursor(position)
            if mapper.finish(realtime: realtime, into: &chunk.data) { chunk.closeRecord(at: at) }
        }
        return true
    }

    /// Ships split container messages left open: those not continued within `partialFlushSeconds` (`all`: every
    /// one, at the end of a `--once` run), at the last entry read.
    func flushOpenMessages(all: Bool, into chunk: inout RecordChunk) {
        guard var encoder = self.encoder.take() else { return }
        defer { self.encoder = encoder }
        let age = UInt64((encoder.settings.partialFlushSeconds * 1e9).rounded())
        let now = monotonicNanos()
        encoder.flushIdle(olderThan: all ? .max : (now > age ? now - age : 0), cursor: previousCursor.isEmpty ? nil : previousCursor, into: &chunk)
        flush(&encoder.tally)
    }

    /// Appends the rate limits' reports (`final`: all of them, due or not) as records at the last entry read; with
    /// `chunk.finalPosition` set there, so they are committed like the entry.
    func appendSummaries(final: Bool, into chunk: inout RecordChunk) {
        if case .cursor(let c)? = chunk.finalPosition { lastCursor = c }
        let summaries = final ? filter.finalSummaries() : filter.dueSummaries()
        guard !summaries.isEmpty else { return }
        guard let at = lastCursor else {
            logger.warning("journal: rate limits dropped \(summaries.reduce(0) { $0 + $1.dropped }) lines but no entry was read to place the report at")
            return
        }
        for summary in summaries {
            summary.encode(host: context.host, shape: shape, maxBytes: context.maxRecordBytes, to: &chunk.data)
            chunk.closeRecord(at: .cursor(at))
        }
        chunk.finalPosition = .cursor(at)
    }

    private func entryError(_ what: String, _ r: Int32) {
        context.counters.add(.readErrors)
        if !entryErrorReported {
            entryErrorReported = true
            logger.error("journal: \(what): \(JournalFileProbe.describe(-r)); further such errors are only counted (readErrors)")
        }
    }

    private func flush(_ tally: inout ContainerEntryEncoder.Tally) {
        let t = tally
        tally = .init()
        let c = context.counters
        c.add(.recordsRead, t.records)
        c.add(.recordsReadDocker, t.records)
        c.add(.messagesTruncated, t.truncated)
        c.add(.invalidUTF8Replaced, t.replaced)
        c.add(.partialsFlushed, t.partialsFlushed)
        c.add(.partialsCut, t.partialsCut)
    }

    private func flush(_ tally: inout JournalEntryMapper.Tally) {
        let t = tally
        tally = .init()
        let c = context.counters
        c.add(.recordsRead, t.records)
        c.add(.bytesRead, t.bytes)
        c.add(.recordsReadJournal, t.records)
        c.add(.bytesReadJournal, t.bytes)
        c.add(.messagesTruncated, t.messagesTruncated)
        c.add(.journalFieldsTruncated, t.fieldsTruncated)
        c.add(.invalidUTF8Replaced, t.replaced)
        filter.flush(to: c)
    }

    // MARK: waiting

    /// Waits for the journal to change (new entries, new or rotated files) or a stop request on `wakeFD`, at most
    /// `pollIntervalSeconds` (and never past sd-journal's own timeout). Returns without a busy loop either way.
    func waitForChanges(wakeFD: Int32) {
        let fd = sd_journal_get_fd(j)
        var timeout = Int32(settings.pollIntervalSeconds * 1000)
        var until: UInt64 = 0
        if sd_journal_get_timeout(j, &until) >= 0 && until != UInt64.max {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let nowMicros = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
            let left = until > nowMicros ? (until - nowMicros + 999) / 1000 : 0
            timeout = Int32(min(UInt64(timeout), left))
        }
        if fd >= 0 {
            var fds = [
                pollfd(fd: fd, events: Int16(truncatingIfNeeded: sd_journal_get_events(j)), revents: 0),
                pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, timeout)
        } else {
            var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 1, timeout)
        }
        if sd_journal_process(j) == Int32(SD_JOURNAL_INVALIDATE), settings.files.isEmpty {
            // Files came or went (journald rotated, or a vacuum): report new files sd-journal will skip.
            _ = probe.check(JournalFileProbe.journalFiles(in: settings.directory), logger: logger, counters: context.counters)
        }
    }
}
