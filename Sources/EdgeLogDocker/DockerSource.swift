import EdgeLogCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Container logs from Docker's json-file and `local` drivers under `containersDirectory` (per container, the driver
/// its `hostconfig.json` names; containers of other drivers are logged once and left alone). Finds containers as they come
/// and go (inotify, with polling as fallback), and reads all of them in turn from one task, in fixed-size pieces,
/// so memory does not grow with the number of containers or the input rate.
public struct DockerSource: LogSource {
    public let settings: DockerSettings
    /// The `records`, `filters` and `redaction` sections: the columns written, what is dropped, what is masked.
    public let records: RecordSettings
    public let filters: FilterSettings
    public let redaction: RedactionSettings
    /// The rate limits' clock (nanoseconds since the Unix epoch; tests pass their own).
    let nowNanos: @Sendable () -> UInt64
    /// Container names to skip besides `exclude`: EdgeLog's own module.
    let selfNames: [String]
    let selfId: String?

    /// Rotation's way to have a file drained before it is truncated (see `TruncationCoordinator`).
    let coordinator: DockerTruncationCoordinator?

    /// `run --once`: work to do once every file is read to its end while the source still answers the
    /// coordinator (the end-of-run rotation pass), after which the source reads to the end once more.
    let onceEpilogue: (@Sendable () async -> Void)?

    public init(
        settings: DockerSettings, environment: [String: String], coordinator: DockerTruncationCoordinator? = nil,
        onceEpilogue: (@Sendable () async -> Void)? = nil, records: RecordSettings = RecordSettings(),
        filters: FilterSettings = FilterSettings(), redaction: RedactionSettings = RedactionSettings(),
        nowNanos: @escaping @Sendable () -> UInt64 = { RecordFilter.wallClockNanos() }
    ) {
        self.settings = settings
        self.records = records
        self.filters = filters
        self.redaction = redaction
        self.nowNanos = nowNanos
        self.coordinator = coordinator
        self.onceEpilogue = onceEpilogue
        if settings.excludeSelf {
            selfNames = environment["IOTEDGE_MODULEID"].map { [$0] } ?? []
            selfId = SelfContainer.id()
        } else {
            selfNames = []
            selfId = nil
        }
    }

    public var name: String { "docker" }

    public func run(_ context: SourceContext) async throws {
        let root = settings.containersDirectory
        let rescan = Flag()
        let (wakeups, doorbell) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let inotify: Inotify? =
            context.mode == .follow
            ? Inotify(onEvent: { rootChanged in
                if rootChanged { rescan.set() }
                doorbell.yield()
            }) : nil
        if context.mode == .follow && inotify == nil {
            context.logger.warning("inotify is not available; polling \(root) every \(settings.pollIntervalSeconds) s")
        }
        let filter = RecordFilter(filters: filters, redaction: redaction, nowNanos: nowNanos)
        var state = ScanState(source: self, context: context, inotify: inotify, filter: filter)
        coordinator?.attach(doorbell)
        defer { coordinator?.detach() }
        // When the next open message is due to be shipped alone (`partialFlushSeconds`): a timer rings then.
        let (deadlines, deadlineBell) = AsyncStream.makeStream(
            of: ContinuousClock.Instant.self, bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            if context.mode == .follow {
                // Polling fallback, and with inotify a slow safety net (e.g. a folder that did not exist yet).
                let interval = settings.pollIntervalSeconds * (inotify == nil ? 1 : 30)
                group.addTask {
                    while true {
                        try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                        rescan.set()
                        doorbell.yield()
                    }
                }
                if filter.hasRateLimits {
                    // The rate limits' reports are due once per interval even when nothing is read.
                    let every = filters.rateLimitReportSeconds
                    group.addTask {
                        while true {
                            try await Task.sleep(for: .milliseconds(Int64(every * 1000)))
                            doorbell.yield()
                        }
                    }
                }
                group.addTask {
                    for await deadline in deadlines {
                        try? await Task.sleep(until: deadline, clock: .continuous)
                        doorbell.yield()
                    }
                }
            }
            var wake = wakeups.makeAsyncIterator()
            var chunk = RecordChunk(source: "")
            var buffer = [UInt8](repeating: 0, count: ContainerTailer.readSize)
            var firstScan = true
            var epilogueStarted = false
            let epilogueDone = Flag(false)
            var requestedDeadline: ContinuousClock.Instant?
            while !Task.isCancelled {
                if rescan.take() || inotify == nil {
                    state.scan(first: firstScan)
                    firstScan = false
                }
                var progress = true
                while progress && !Task.isCancelled {
                    progress = false
                    if let coordinator {
                        await serve(coordinator.take(), state: state, chunk: &chunk, buffer: &buffer, context: context)
                    }
                    for tailer in state.tailers where !isHeld(tailer, context: context) {
                        // A few pieces per container per turn, so a busy one cannot starve the rest.
                        for _ in 0..<4 {
                            chunk.reset(source: tailer.key)
                            guard tailer.read(into: &chunk, buffer: &buffer, counters: context.counters) else { break }
                            progress = true
                            _ = tailer.append(summaries: filter.dueSummaries(), into: &chunk)
                            await context.emit(chunk)
                        }
                    }
                    await cutOldestWhileOver(state: state, chunk: &chunk, context: context)
                    state.dropGone()
                }
                await emitSummaries(filter.dueSummaries(), state: state, chunk: &chunk, context: context)
                let nextDeadline = await flushDue(state: state, chunk: &chunk, context: context)
                if let nextDeadline, nextDeadline != requestedDeadline {
                    requestedDeadline = nextDeadline
                    deadlineBell.yield(nextDeadline)
                }
                if context.mode == .once {
                    if let epilogue = onceEpilogue, !epilogueDone.isSet {
                        if !epilogueStarted {
                            epilogueStarted = true
                            group.addTask {
                                await epilogue()
                                epilogueDone.set()
                                doorbell.yield()
                            }
                        }
                        // Serve the coordinator (and read what comes) until the epilogue is over.
                        guard await wake.next() != nil else { break }
                        continue
                    }
                    break
                }
                guard await wake.next() != nil else { break }
            }
            // Stopping (or `run --once` at its end): messages still open go out as they are.
            for tailer in state.tailers where tailer.pendingCount > 0 {
                chunk.reset(source: tailer.key)
                tailer.flushAllPending(into: &chunk)
                tailer.settle(context.counters)
                await context.emit(chunk)
            }
            await emitSummaries(filter.finalSummaries(), state: state, chunk: &chunk, context: context)
            filter.flush(to: context.counters)
            deadlineBell.finish()
            group.cancelAll()
        }
    }
}

extension DockerSource {
    /// The rate limits' reports, as records of the first container that has a position (each names its module).
    func emitSummaries(
        _ summaries: [RateLimitSummary], state: ScanState, chunk: inout RecordChunk, context: SourceContext
    ) async {
        guard !summaries.isEmpty else { return }
        for tailer in state.tailers {
            chunk.reset(source: tailer.key)
            if tailer.append(summaries: summaries, into: &chunk) {
                await context.emit(chunk)
                return
            }
        }
        let dropped = summaries.reduce(0) { $0 + $1.dropped }
        context.logger.warning(
            "rate limits dropped \(dropped) lines (\(summaries.map(\.subject).joined(separator: ", "))); no container is left to carry the report as a record")
    }

    /// Rejoin memory over `maxPendingBytes`: the oldest open message of any container goes out cut.
    func cutOldestWhileOver(state: ScanState, chunk: inout RecordChunk, context: SourceContext) async {
        while state.ledger.isOver {
            var oldest: (tailer: ContainerTailer, slot: Int, at: ContinuousClock.Instant)?
            for tailer in state.tailers {
                if let p = tailer.oldestPending, oldest == nil || p.openedAt < oldest!.at {
                    oldest = (tailer, p.slot, p.openedAt)
                }
            }
            guard let oldest else { return }
            let size = oldest.tailer.pending[oldest.slot]?.message.count ?? 0
            context.logger.warning(
                "\(oldest.tailer.name): messages being rejoined hold more than docker.maxPendingBytes (\(state.ledger.limit) bytes) in all; shipping the oldest open one cut at \(size) bytes, its rest follows as a new record"
            )
            chunk.reset(source: oldest.tailer.key)
            oldest.tailer.flushPending(oldest.slot, cut: true, into: &chunk)
            oldest.tailer.settle(context.counters)
            await context.emit(chunk)
        }
    }

    /// Ships open messages nothing continued in time (or whose container stopped); returns when the next is due.
    func flushDue(state: ScanState, chunk: inout RecordChunk, context: SourceContext) async -> ContinuousClock.Instant? {
        let now = ContinuousClock.now
        var earliest: ContinuousClock.Instant?
        for tailer in state.tailers where tailer.pendingCount > 0 {
            let (due, next) = tailer.duePending(now: now)
            if !due.isEmpty {
                chunk.reset(source: tailer.key)
                for slot in due { tailer.flushPending(slot, cut: false, into: &chunk) }
                tailer.settle(context.counters)
                await context.emit(chunk)
            }
            if let next, earliest == nil || next < earliest! { earliest = next }
        }
        return earliest
    }

    /// A hold outlives a rotation that neither finished nor cancelled: release it, the tailer then sees the
    /// truncation the ordinary way.
    static let maxHold: Duration = .seconds(60)

    func isHeld(_ tailer: ContainerTailer, context: SourceContext) -> Bool {
        guard let since = tailer.heldSince else { return false }
        if ContinuousClock.now - since < Self.maxHold { return true }
        context.logger.warning("\(tailer.name): rotation did not finish within \(Self.maxHold); reading again")
        tailer.heldSince = nil
        return false
    }

    func serve(
        _ requests: [DockerTruncationCoordinator.Request], state: ScanState, chunk: inout RecordChunk,
        buffer: inout [UInt8], context: SourceContext
    ) async {
        for request in requests {
            switch request {
            case .prepare(let path, let reply):
                guard let tailer = state.tailers.first(where: { $0.follows(path) }) else {
                    reply.resume(returning: false)
                    continue
                }
                // Read what the live file holds now and hand it on, but do not chase the writer: a writer faster
                // than this source would keep the rotation (and the disk it protects) waiting. What comes after
                // is read from the rotated copy once the file is truncated (`finish`).
                let end = tailer.liveSize
                await drain(tailer, until: end, chunk: &chunk, buffer: &buffer, context: context)
                tailer.heldSince = .now
                reply.resume(returning: true)
            case .finish(let path, let truncatedAt, let copy, let reply):
                if let tailer = state.tailers.first(where: { $0.follows(path) }) {
                    // What was appended between the drain and the truncation is in the copy: read it from there.
                    if tailer.beginCopy(copy, truncatedAt: truncatedAt) {
                        await drain(tailer, chunk: &chunk, buffer: &buffer, context: context)
                    }
                    tailer.restartLive()
                    tailer.heldSince = nil
                }
                reply.resume()
            case .cancel(let path):
                state.tailers.first(where: { $0.follows(path) })?.heldSince = nil
            }
        }
    }

    /// Reads `tailer`'s open file to its end (a rotated copy: to where the live file was truncated), or only until
    /// it has read to `offset`.
    private func drain(
        _ tailer: ContainerTailer, until offset: Int64 = .max, chunk: inout RecordChunk, buffer: inout [UInt8],
        context: SourceContext
    ) async {
        while tailer.readOffset < offset {
            chunk.reset(source: tailer.key)
            guard tailer.read(into: &chunk, buffer: &buffer, counters: context.counters) else { break }
            await context.emit(chunk)
        }
    }
}

/// The containers being followed; owned by the source's task.
struct ScanState {
    let source: DockerSource
    let context: SourceContext
    let inotify: Inotify?
    var tailers: [ContainerTailer] = []
    var skipped: Set<String> = []
    /// Containers whose hostconfig.json could not be used (reported once).
    var damagedHostConfigs: Set<String> = []
    var missingRootReported = false
    let ledger: PendingLedger
    let filter: RecordFilter
    let shape: RecordShape

    init(source: DockerSource, context: SourceContext, inotify: Inotify?, filter: RecordFilter) {
        self.source = source
        self.context = context
        self.inotify = inotify
        self.filter = filter
        shape = RecordShape(source.records)
        ledger = PendingLedger(limit: Int(source.settings.maxPendingBytes))
    }

    mutating func scan(first: Bool) {
        let root = source.settings.containersDirectory
        let names: [String]
        do {
            guard let found = try FileSystem.list(root) else {
                if !missingRootReported {
                    context.logger.warning("\(root) does not exist (yet); waiting for it")
                    missingRootReported = true
                }
                return
            }
            names = found
        } catch {
            context.logger.error("cannot list \(root): \(error)")
            return
        }
        if missingRootReported {
            context.logger.info("\(root) is there now")
            missingRootReported = false
        }
        inotify?.watch(root)
        for tailer in tailers {
            if tailer.reloadMetadata() {
                context.logger.info("container \(tailer.name) (\(tailer.id.prefix(12))) changed; metadata re-read")
            }
            tailer.chain.observe()
        }
        let known = Set(tailers.map(\.id))
        for tailer in tailers where tailer.framed {
            // The `local` driver's folder comes when the container starts: watched once it is there.
            inotify?.watch(tailer.chain.directory, chain: tailer.chain)
        }
        for id in names.sorted() where !known.contains(id) && !skipped.contains(id) {
            let dir = root + "/" + id
            guard let st = try? FileSystem.status(dir), st.st_mode & S_IFMT == S_IFDIR else { continue }
            guard let (driver, origin) = LogDriver.detect(directory: dir, id: id) else {
                // No hostconfig.json yet (dockerd writes it just after config.v2.json) and no log file: decided
                // when one comes (the folder is watched).
                inotify?.watch(dir)
                continue
            }
            if case .damaged(let reason) = origin, !damagedHostConfigs.contains(id) {
                damagedHostConfigs.insert(id)
                context.logger.warning(
                    "\(dir)/hostconfig.json cannot be used (\(reason)); reading the container's \(driver) files found there")
            }
            let key = "docker/" + id
            let tailer = ContainerTailer(
                id: id, directory: dir, settings: source.settings, host: context.host,
                maxRecordBytes: context.maxRecordBytes, checkpoint: context.checkpoints[key],
                startAtEnd: first && source.settings.readFrom == "end" && context.checkpoints[key] == nil,
                ledger: ledger, counters: context.counters, logger: context.logger, shape: shape, filter: filter,
                driver: driver)
            let filtersNeedTheName =
                !source.selfNames.isEmpty || !source.settings.include.isEmpty || !source.settings.exclude.isEmpty
            if tailer.metadata == nil && filtersNeedTheName {
                // dockerd creates the folder before it writes config.v2.json there: the name the filters need is
                // not known yet. Decided when the file comes (it is watched for).
                inotify?.watch(dir)
                continue
            }
            if id == source.selfId || source.selfNames.contains(tailer.name)
                || !Glob.selects(tailer.name, include: source.settings.include, exclude: source.settings.exclude)
            {
                skipped.insert(id)
                context.logger.debug("not collecting container \(tailer.name)")
                continue
            }
            switch driver {
            case .jsonFile, .local:
                break
            case .journald:
                skipped.insert(id)
                context.logger.info(
                    "container \(tailer.name) (\(id.prefix(12))) uses Docker's journald logging driver: its lines come through the journal (journal source), not from files"
                )
                continue
            case .other(let name):
                skipped.insert(id)
                context.logger.warning(
                    "container \(tailer.name) (\(id.prefix(12))) uses Docker's \(name) logging driver, which writes no file EdgeLog can read: its logs are not collected"
                )
                continue
            }
            inotify?.watch(dir, chain: driver == .local ? nil : tailer.chain)
            if driver == .local { inotify?.watch(tailer.chain.directory, chain: tailer.chain) }
            tailers.append(tailer)
            context.logger.info("collecting container \(tailer.name) (\(id.prefix(12))) from its \(driver) files")
        }
    }

    mutating func dropGone() {
        for tailer in tailers where tailer.gone {
            inotify?.unwatch(tailer.directory)
            if tailer.framed { inotify?.unwatch(tailer.chain.directory) }
            context.logger.info("container \(tailer.name) (\(tailer.id.prefix(12))) is gone")
        }
        tailers.removeAll { $0.gone }
    }
}

/// A flag set from other threads (inotify, the poll timer) and taken by the source's task.
final class Flag: Sendable {
    private let value: Mutex<Bool>
    init(_ initial: Bool = true) { value = Mutex(initial) }
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
    func take() -> Bool { value.withLock { v in defer { v = false }; return v } }
}
