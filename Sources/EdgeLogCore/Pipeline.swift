import Logging
import Synchronization

/// sources → batcher → compression → spool → sink, with positions committed once batches are spooled and the
/// checkpoint file written by one committer.
public final class Pipeline: Sendable {
    public let configuration: Configuration
    public let counters: Counters
    /// The committed positions (read by metrics, status and the twin).
    public let checkpoints: CheckpointStore
    public let spool: Spool
    public let driver: SinkDriver
    let committer: CheckpointCommitter
    let sources: [any LogSource]
    let batcher: Batcher
    let writer: BatchWriter
    let host: HostIdentity
    let logger: Logger
    /// Whether the positions were rebuilt at this start; then the keys that had one (or have shown up since).
    private let afterReset: Bool
    private let resetKeys: Mutex<Set<String>>
    private let stopRequest: AsyncStream<Void>
    private let stopContinuation: AsyncStream<Void>.Continuation
    private let flags: RunFlags

    /// Read by the writer's `giveUp`.
    private final class RunFlags: Sendable {
        let value = Mutex<(stopping: Bool, once: Bool)>((false, false))
    }

    /// How long `run --once` waits for a spool that cannot be written before it gives up (exit 1; what was not
    /// spooled is not committed and is read again by the next run).
    static let onceSpoolPatienceMillis: Int64 = 60_000

    public convenience init(
        configuration: Configuration, host: HostIdentity, sources: [any LogSource], sink: any Sink,
        compressor: any BatchCompressor, counters: Counters = Counters(), logger: Logger,
        retryBackoff: Backoff = Backoff()
    ) throws {
        try self.init(
            configuration: configuration, host: host, sources: sources, sink: sink, compressor: compressor,
            counters: counters, logger: logger, retryBackoff: retryBackoff, clock: ContinuousClock())
    }

    /// - Parameters:
    ///   - clock: the sink driver's clock (retries, the shutdown grace period, the pace); tests give a manual one.
    ///   - startJitter: the longest random wait before the first call when the spool holds a backlog at start.
    public init<C: Clock>(
        configuration: Configuration, host: HostIdentity, sources: [any LogSource], sink: any Sink,
        compressor: any BatchCompressor, counters: Counters = Counters(), logger: Logger,
        retryBackoff: Backoff = Backoff(), clock: C, startJitter: Duration = SinkDriver.defaultStartJitter
    ) throws where C.Duration == Duration {
        self.configuration = configuration
        self.host = host
        self.sources = sources
        self.counters = counters
        self.logger = logger
        let state = configuration.stateDirectory
        let now = FileSystem.nowMillis()
        try FileSystem.makeDirectories(state)
        // Folders an older version made 0755: what EdgeLog keeps is private.
        var owned = [state, state + "/spool", state + "/deadletter"]
        if configuration.sinkDirectory.hasPrefix(state + "/") { owned.append(configuration.sinkDirectory) }
        for folder in owned { _ = try? FileSystem.makePrivate(directory: folder) }

        let store = try CheckpointStore(directory: state, onDamage: .setAside(nowMillis: now))
        checkpoints = store
        counters.restore(store.restoredCounters)
        let spool = try Spool(
            directory: state + "/spool", settings: configuration.spool, counters: counters, logger: logger,
            verifier: compressor)
        self.spool = spool
        let deadLetters = DeadLetterStore(directory: state + "/deadletter")
        let spooled = spool.snapshot.count
        if store.damage != nil || (!store.existed && spooled > 0) {
            // Heal: the positions the spool files carry, and every other source from its readFrom.
            let rebuilt = spool.rebuild()
            store.apply(rebuilt.positions, sequence: rebuilt.lastSequence)
            let reason =
                store.damage.map { "\(CheckpointStore.fileName) \($0.reason)" }
                ?? "\(CheckpointStore.fileName) is missing while the spool holds \(spooled) batch(es)"
            store.noteReset(
                CheckpointStore.Reset(
                    atMillis: now, reason: reason, setAside: store.damage?.setAside ?? "",
                    rebuiltPositions: rebuilt.positions.count, batchesCarryingPositions: rebuilt.carried))
            counters.add(.checkpointResets)
            let aside = store.damage.map { damage in
                damage.setAside.map { "; it was moved to \($0)" } ?? "; it could not be moved aside and is replaced"
            } ?? ""
            logger.error(
                "\(reason)\(aside). Positions rebuilt from the spool: \(rebuilt.positions.count) source(s) from \(rebuilt.carried) batch file(s); every other source starts from its readFrom (docker.readFrom \(configuration.docker.readFrom), journal.readFrom \(configuration.journal.readFrom)): what it wrote since its last committed position is read again (beginning) or skipped (end). Counted in checkpointResets."
            )
            afterReset = true
            resetKeys = Mutex(Set(store.positions.keys))
        } else {
            let recovered = spool.recover(after: store.lastSequence)
            store.apply(recovered.positions, sequence: recovered.lastSequence)
            afterReset = false
            resetKeys = Mutex([])
        }
        // New batches are numbered above every sequence in use, so none is reused (a delivered file in the file
        // sink's folder, a dead letter).
        let floor = max(
            store.lastSequence, spool.highestSequence ?? 0, deadLetters.highestSequence ?? 0,
            sink.highestStoredSequence() ?? 0)
        store.apply([:], sequence: min(floor, SpoolEntry.maxSequence - 1))

        let committer = CheckpointCommitter(store: store, counters: counters, logger: logger)
        self.committer = committer
        let batcher = Batcher(settings: configuration.batch, format: sink.format, firstSequence: store.lastSequence + 1)
        self.batcher = batcher
        let flags = RunFlags()
        self.flags = flags
        writer = BatchWriter(
            batcher: batcher, spool: spool, committer: committer, compressor: compressor,
            level: Int(configuration.batch.compressionLevel), concurrency: 2, counters: counters, logger: logger,
            giveUp: {
                let (stopping, once) = flags.value.withLock { $0 }
                if stopping || Task.isCancelled { return true }
                guard once, let blocked = spool.writeBlocked else { return false }
                return FileSystem.nowMillis() - blocked.sinceMillis > Self.onceSpoolPatienceMillis
            })
        driver = SinkDriver(
            spool: spool, sink: sink, deadLetters: deadLetters, committer: committer, counters: counters,
            logger: logger, backoff: retryBackoff, clock: clock,
            merging: SinkDriver.Merging(
                maxBytes: Int(configuration.batch.maxBytes), compressor: compressor,
                level: Int(configuration.batch.compressionLevel)),
            maxBytesPerSecond: Int(configuration.sink.maxBytesPerSecond), startJitter: startJitter,
            budgetWindow: .fromSeconds(configuration.sink.budgetWindowSeconds))
        spool.setBeforeDelete { [committer] in _ = await committer.aboutToDelete() }
        (stopRequest, stopContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    private let deliverOnStop = Mutex(true)
    private let stopped = Mutex<[(source: String, reason: String)]>([])

    /// Sources of a following run that ended on their own (an error, or a return they should never make), with
    /// why: they read nothing more until the pipeline is restarted.
    public var stoppedSources: [(source: String, reason: String)] { stopped.withLock { $0 } }

    /// Asks a running `run(.follow)` to stop reading, spool what it has, deliver within the grace period and return.
    /// With `deliver: false` (a reconfiguration: a new pipeline takes over the spool) it returns once everything
    /// read is spooled and committed. A spool that cannot be written (a full disk) is not waited for: what it could
    /// not take is not committed and is read again by the next pipeline.
    public func shutdown(deliver: Bool = true) {
        deliverOnStop.withLock { $0 = deliver }
        flags.value.withLock { $0.stopping = true }
        stopContinuation.yield()
    }

    /// Closes the open batch now (the `flush` method).
    public func flush() async { await batcher.flush() }

    /// Runs the pipeline. `.follow` runs until `shutdown()` (or cancellation); `.once` reads every source to
    /// its current end. Either way, everything read is spooled and committed before delivery's last round.
    /// Returns true if everything read was spooled and the spool is empty at the end (everything delivered).
    public func run(mode: RunMode) async throws -> Bool {
        flags.value.withLock { $0.once = mode == .once }
        await committer.flush()
        let written = await withTaskGroup(of: Void.self) { delivery in
            if mode == .follow {
                delivery.addTask { await self.driver.run(until: .cancelled) }
            }
            let written = await withTaskGroup(of: Bool.self) { stages in
                stages.addTask { await self.writer.run() }
                await withTaskGroup(of: Void.self) { timer in
                    timer.addTask { await self.flushOnTime() }
                    await self.runSources(mode: mode)
                    await self.batcher.finish()
                    timer.cancelAll()
                }
                return await stages.next() ?? true
            }
            delivery.cancelAll()
            await delivery.waitForAll()
            return written
        }
        await committer.flush()
        let done: Bool
        switch mode {
        case .once:
            done = await driver.run(until: .empty(attempts: 3, within: nil))
        case .follow:
            let grace = Duration.milliseconds(Int64(configuration.sink.shutdownGraceSeconds * 1000))
            if deliverOnStop.withLock({ $0 }) {
                done = await driver.run(until: .empty(attempts: Int.max, within: grace))
            } else {
                done = spool.oldest == nil
            }
        }
        await committer.flush()
        if !done {
            let left = spool.snapshot
            logger.warning(
                "\(left.count) batch(es), \(left.reduce(0) { $0 + $1.records }) records not delivered yet; they stay spooled for the next run"
            )
        }
        return done && written
    }

    private func runSources(mode: RunMode) async {
        let emit: @Sendable (RecordChunk) async -> Void
        if afterReset {
            // After a rebuild: note each source that had no position (it starts from its readFrom).
            emit = { [self] chunk in
                if resetKeys.withLock({ $0.insert(chunk.source).inserted }) {
                    counters.add(.checkpointResetSources)
                    logger.warning("\(chunk.source) had no position after the checkpoint reset: it started from its readFrom")
                }
                await batcher.append(chunk)
            }
        } else {
            emit = { [batcher] chunk in await batcher.append(chunk) }
        }
        let context = SourceContext(
            mode: mode, checkpoints: checkpoints.positions, host: host,
            maxRecordBytes: Int(configuration.batch.maxBytes) - 2, counters: counters, logger: logger, emit: emit)
        await withTaskGroup(of: Bool.self) { group in
            for source in sources {
                group.addTask {
                    var reason = "it ended"
                    do {
                        try await source.run(context)
                    } catch is CancellationError {
                    } catch {
                        self.logger.error("source \(source.name) stopped: \(error)")
                        reason = "\(error)"
                    }
                    if mode == .follow && !Task.isCancelled {
                        self.stopped.withLock { $0.append((source.name, reason)) }
                    }
                    return false
                }
            }
            if mode == .follow {
                group.addTask {
                    var stop = self.stopRequest.makeAsyncIterator()
                    _ = await stop.next()
                    return true
                }
                // Sources that end early (a follow source never should) leave the others running; the stop
                // request (or cancellation) stops them all.
                while let isStop = await group.next() {
                    if isStop {
                        group.cancelAll()
                        break
                    }
                }
            }
            await group.waitForAll()
        }
    }

    private func flushOnTime() async {
        while let deadline = await batcher.nextDeadline() {
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
            await batcher.sealIfDue()
        }
    }
}
