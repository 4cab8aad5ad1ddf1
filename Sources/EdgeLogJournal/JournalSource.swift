import EdgeLogCore

/// Host logs from journald, read with libsystemd's sd-journal API (the IoT Edge daemons, docker, the kernel…),
/// and the lines of containers that log through Docker's `journald` driver (`containers`: see
/// `ContainerEntryEncoder`), which are container records whatever the host filters say.
///
/// All sd-journal work runs on one dedicated thread (`JournalThread`), which reads entries into chunks of
/// records and waits for new ones with the journal's inotify fd; this task only hands the chunks to the
/// pipeline. Each record's position is its entry's cursor (checkpoint key `journal`), so a cursor is committed
/// only once the batch holding its entry is spooled; a restart continues right after it.
public struct JournalSource: LogSource {
    /// The `journal` section.
    public let settings: JournalSettings
    /// The `records`, `filters` and `redaction` sections.
    public let records: RecordSettings
    public let filters: FilterSettings
    public let redaction: RedactionSettings
    /// The rate limits' clock (nanoseconds since the Unix epoch; tests pass their own).
    let nowNanos: @Sendable () -> UInt64
    /// Entries per chunk handed to the pipeline.
    let chunkEntries: Int
    /// Record bytes per chunk (a chunk ends after the entry that passes this).
    let chunkBytes: Int
    /// Host entries are collected (`journal.enabled`).
    public let hostEntries: Bool
    /// Container entries are collected as container records (`docker.journal`), or nil.
    public let containers: JournalContainers?

    /// The checkpoint key of the journal's cursor.
    public static let checkpointKey = "journal"

    /// A source reading the journal as `settings` (the `journal` section) says.
    public init(
        settings: JournalSettings, records: RecordSettings = RecordSettings(), filters: FilterSettings = FilterSettings(),
        redaction: RedactionSettings = RedactionSettings(), hostEntries: Bool = true, containers: JournalContainers? = nil,
        nowNanos: @escaping @Sendable () -> UInt64 = { RecordFilter.wallClockNanos() }
    ) {
        self.init(
            settings: settings, chunkEntries: 256, chunkBytes: 512 * 1024, records: records, filters: filters,
            redaction: redaction, hostEntries: hostEntries, containers: containers, nowNanos: nowNanos)
    }

    init(
        settings: JournalSettings, chunkEntries: Int, chunkBytes: Int, records: RecordSettings = RecordSettings(),
        filters: FilterSettings = FilterSettings(), redaction: RedactionSettings = RedactionSettings(),
        hostEntries: Bool = true, containers: JournalContainers? = nil,
        nowNanos: @escaping @Sendable () -> UInt64 = { RecordFilter.wallClockNanos() }
    ) {
        self.hostEntries = hostEntries
        self.containers = containers
        self.settings = settings
        self.records = records
        self.filters = filters
        self.redaction = redaction
        self.nowNanos = nowNanos
        self.chunkEntries = chunkEntries
        self.chunkBytes = chunkBytes
    }

    public var name: String { "journal" }

    /// Reads from the saved cursor (or `readFrom`) to the end (`.once`) or until cancelled (`.follow`).
    /// Throws only if the reader thread cannot be started.
    public func run(_ context: SourceContext) async throws {
        var saved: String?
        if case .cursor(let cursor)? = context.checkpoints[Self.checkpointKey] { saved = cursor }
        let thread = try JournalThread()
        let (settings, records, filters, redaction, nowNanos) = (self.settings, self.records, self.filters, self.redaction, self.nowNanos)
        let (entries, bytes, hostEntries, containers) = (chunkEntries, chunkBytes, self.hostEntries, self.containers)
        try thread.start { [saved] thread in
            if let wait = containers?.waitUntil, !hostEntries, saved == nil {
                // `docker.journal` auto: nothing to read until a container uses the journald driver.
                var told = false
                while !wait() {
                    if !told {
                        context.logger.debug("journal: no container uses Docker's journald driver; looking again every \(containers?.waitSeconds ?? 10) s")
                        told = true
                    }
                    if context.mode == .once || thread.sleep(milliseconds: Int32((containers?.waitSeconds ?? 10) * 1000)) {
                        thread.put(.end)
                        return
                    }
                }
            }
            let reader = JournalReader(
                settings: settings, context: context, records: records,
                filter: RecordFilter(filters: filters, redaction: redaction, nowNanos: nowNanos), hostEntries: hostEntries,
                containers: containers)
            Self.read(reader, on: thread, mode: context.mode, saved: saved, chunkEntries: entries, chunkBytes: bytes)
        }
        while !Task.isCancelled, let event = await thread.next() {
            guard case .chunk(let chunk) = event else { break }
            await context.emit(chunk)
        }
        thread.stop()
        await thread.join()
    }

    /// The reader thread's loop: open (retrying while the journal is missing), position, then read and hand over
    /// chunks; at the end of the journal return (once) or wait for more (follow).
    static func read(
        _ reader: JournalReader, on thread: JournalThread, mode: RunMode, saved: String?, chunkEntries: Int, chunkBytes: Int
    ) {
        let interval = Int32(reader.settings.pollIntervalSeconds * 1000)
        while !reader.open() {
            if mode == .once || thread.sleep(milliseconds: interval) {
                thread.put(.end)
                return
            }
        }
        if mode == .follow { reader.prepareToFollow() }
        let start = reader.position(saved: saved)
        reader.addMatches()
        if let start {
            var chunk = RecordChunk(source: checkpointKey)
            chunk.finalPosition = .cursor(start)
            guard thread.put(.chunk(chunk)) else { return }
        }
        while !thread.isStopped {
            var chunk = RecordChunk(source: checkpointKey)
            chunk.data.reserveCapacity(chunkBytes + 64 * 1024)
            let more = reader.read(into: &chunk, maxEntries: chunkEntries, maxBytes: chunkBytes)
            // The rate limits' reports: when due (per chunk, and at each idle wake-up), all of them at the end.
            let final = !more && mode == .once
            if !more { reader.flushOpenMessages(all: final, into: &chunk) }
            reader.appendSummaries(final: final, into: &chunk)
            if final { reader.filter.flush(to: reader.context.counters) }
            if !chunk.isEmpty {
                guard thread.put(.chunk(chunk)) else { return }
            }
            if more { continue }
            if mode == .once {
                thread.put(.end)
                return
            }
            reader.waitForChanges(wakeFD: thread.wakeFD)
        }
    }
}
