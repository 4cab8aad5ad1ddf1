import Logging

/// How a source runs: follow forever, or read to the current end and return (`run --once`).
public enum RunMode: Sendable, Equatable {
    case follow
    case once
}

/// Anything that reads records: Docker json-file logs, the journal.
public protocol LogSource: Sendable {
    /// For logs and status, e.g. `docker`.
    var name: String { get }
    /// Reads until cancelled (follow) or to the current end of its input (once), handing records to
    /// `context.emit`, which suspends while the pipeline is full (backpressure, never dropping).
    func run(_ context: SourceContext) async throws
}

/// What a source gets from the pipeline.
public struct SourceContext: Sendable {
    public let mode: RunMode
    /// Committed positions from the last run, by checkpoint key.
    public let checkpoints: [String: SourcePosition]
    public let host: HostIdentity
    /// Largest encoded record: one record must fit in one batch's JSON array (`batch.maxBytes` minus brackets).
    public let maxRecordBytes: Int
    public let counters: Counters
    public let logger: Logger
    private let sink: @Sendable (RecordChunk) async -> Void

    public init(
        mode: RunMode, checkpoints: [String: SourcePosition], host: HostIdentity, maxRecordBytes: Int,
        counters: Counters, logger: Logger, emit: @escaping @Sendable (RecordChunk) async -> Void
    ) {
        self.mode = mode
        self.checkpoints = checkpoints
        self.host = host
        self.maxRecordBytes = maxRecordBytes
        self.counters = counters
        self.logger = logger
        self.sink = emit
    }

    /// Hands records on; returns once the batcher has taken them.
    public func emit(_ chunk: RecordChunk) async {
        guard !chunk.isEmpty else { return }
        await sink(chunk)
    }
}
