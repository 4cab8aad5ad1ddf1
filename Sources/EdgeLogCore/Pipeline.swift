import Logging
import Synchronization

/// sources → batcher → compression → spool → sink, with checkpoints committed once batches are spooled.
public final class Pipeline: Sendable {
    public let configuration: Configuration
    public let counters: Counters
    public let checkpoints: CheckpointStore
    public let spool: Spool
    public let driver: SinkDriver
    let sources: [any LogSource]
    let batcher: Batcher
    let writer: BatchWriter
    let host: HostIdentity
    let logger: Logger
    private let stopRequest: AsyncStream<Void>
    private let stopContinuation: AsyncStream<Void>.Continuation

    public init(
        configuration: Configuration, host: HostIdentity, sources: [any LogSource], sink: any Sink,
        compressor: any BatchCompressor, counters: Counters = Counters(), logger: Logger,
        retryBackoff: Backoff = Backoff()
    ) throws {
        self.configuration = configuration
        self.host = host
        self.sources = sources
        self.counters = counters
        self.logger = logger
        let state = configuration.stateDirectory
        try FileSystem.makeDirectories(state)
        checkpoints = try CheckpointStore(directory: state)
        counters.restore(checkpoints.restoredCounters)
        spool = try Spool(directory: state + "/spool", settings: configuration.spool, counters: counters, logger: logger)
        let recovered = spool.recover(after: checkpoints.lastSequence)
        checkpoints.apply(recovered.positions, sequence: recovered.lastSequence)
        let first = max(checkpoints.lastSequence, spool.highestSequence ?? 0) + 1
        batcher = Batcher(settings: configuration.batch, format: sink.format, firstSequence: first)
        writer = BatchWriter(
            batcher: batcher, spool: spool, checkpoints: checkpoints, compressor: compressor,
            level: Int(configuration.batch.compressionLevel), concurrency: 2, counters: counters, logger: logger)
        driver = SinkDriver(
            spool: spool, sink: sink, deadLetters: DeadLetterStore(directory: state + "/deadletter"),
            checkpoints: checkpoints, counters: counters, logger: logger, backoff: retryBackoff)
        spool.setBeforeDelete { [checkpoints, counters] in try? checkpoints.commit(counters: counters) }
        (stopRequest, stopContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    private let deliverOnStop = Mutex(true)
    private let stopped = Mutex<[(source: String, reason: String)]>([])

    /// Sources of a following run that ended on their own (an error, or a return they should never make), with
    /// why: they read nothing more until the pipeline is restarted.
    public var stoppedSources: [(source: String, reason: String)] { stopped.withLock { $0 } }

    /// Asks a running `run(.follow)` to stop reading, spool what it has, deliver within the grace period and return.
    /// With `deliver: false` (a reconfiguration: a new pipeline takes over the spool) it returns once everything
    /// read is spooled and committed.
    public func shutdown(deliver: Bool = true) {
        deliverOnStop.withLock { $0 = deliver }
        stopContinuation.yield()
    }

    /// Closes the open batch now (the `flush` method).
    public func flush() async { await batcher.flush() }

    /// Runs the pipeline. `.follow` runs until `shutdown()` (or cancellation); `.once` reads every source to
    /// its current end. Either way, everything read is spooled and committed before delivery's last round.
    /// Returns true if the spool is empty at the end (everything delivered).
    public func run(mode: RunMode) async throws -> Bool {
        try await withThrowingTaskGroup(of: Void.self) { delivery in
            if mode == .follow {
                delivery.addTask { await self.driver.run(until: .cancelled) }
            }
            try await withThrowingTaskGroup(of: Void.self) { stages in
                stages.addTask { try await self.writer.run() }
                await withTaskGroup(of: Void.self) { timer in
                    timer.addTask { await self.flushOnTime() }
                    await self.runSources(mode: mode)
                    await self.batcher.finish()
                    timer.cancelAll()
                }
                try await stages.waitForAll()
            }
            delivery.cancelAll()
            try await delivery.waitForAll()
        }
        try? checkpoints.commit([:], sequence: nil, counters: counters)
        let done: Bool
        switch mode {
        case .once:
            done = await driver.run(until: .empty(attempts: 3, deadline: nil))
        case .follow:
            let grace = Duration.milliseconds(Int64(configuration.sink.shutdownGraceSeconds * 1000))
            if deliverOnStop.withLock({ $0 }) {
                done = await driver.run(until: .empty(attempts: Int.max, deadline: .now + grace))
            } else {
                done = spool.oldest == nil
            }
        }
        try? checkpoints.commit([:], sequence: nil, counters: counters)
        if !done {
            let left = spool.snapshot
            logger.warning(
                "\(left.count) batch(es), \(left.reduce(0) { $0 + $1.records }) records not delivered yet; they stay spooled for the next run"
            )
        }
        return done
    }

    private func runSources(mode: RunMode) async {
        let context = SourceContext(
            mode: mode, checkpoints: checkpoints.positions, host: host,
            maxRecordBytes: Int(configuration.batch.maxBytes) - 2, counters: counters, logger: logger,
            emit: { [batcher] chunk in await batcher.append(chunk) })
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
