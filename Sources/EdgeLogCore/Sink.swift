/// A batch as the sink receives it: the spooled bytes (gzip of `format`), ready to send as they are.
public struct SinkBatch: Sendable, Equatable {
    public let sequence: UInt64
    public let payload: [UInt8]
    public let records: Int
    public let format: BatchFormat

    public init(sequence: UInt64, payload: [UInt8], records: Int, format: BatchFormat) {
        self.sequence = sequence
        self.payload = payload
        self.records = records
        self.format = format
    }
}

/// What became of one delivery.
public enum DeliveryResult: Sendable, Equatable {
    /// Accepted upstream: the batch may be deleted from the spool.
    case delivered
    /// Try again: after `retryAfter` if the upstream said so (HTTP `Retry-After`), else after backoff.
    case retryable(reason: String, retryAfter: Duration?)
    /// The upstream is over its budget (HTTP 429): try again after `retryAfter` (or backoff), and slow down.
    case throttled(reason: String, retryAfter: Duration?)
    /// Will never succeed as it is: the batch goes to the dead-letter folder with `detail` beside it.
    case permanent(reason: String, detail: String)
}

/// Where batches go. A sink delivers one batch at a time per call; the driver keeps order and retries.
public protocol Sink: Sendable {
    var name: String { get }
    /// The layout the sink wants its bodies in; batches are built in it so the spooled bytes go out unchanged.
    var format: BatchFormat { get }
    /// True if delivering a batch again (same sequence) replaces the first delivery instead of duplicating it.
    /// The driver then writes the checkpoint file every few deliveries instead of after each one.
    var idempotent: Bool { get }
    /// How many `deliver` calls the driver may have in flight at once (results are still acted on in order).
    var maxConcurrentDeliveries: Int { get }
    /// The longest field value the upstream keeps (bytes of UTF-8), or nil for no limit. Sources are to cut
    /// `Message` to it, counted, so nothing is truncated unseen upstream.
    var maxFieldBytes: Int? { get }
    /// The highest batch sequence the sink keeps under its own name, for a sink that names what it stores by
    /// sequence (the file sink): new batches are numbered above it, so lost checkpoints never make a new batch
    /// overwrite one delivered before. Nil for the others.
    func highestStoredSequence() -> UInt64?
    /// True if consecutive spooled batches may go out together in one call while a backlog drains (their records
    /// merged into one body of at most `batch.maxBytes`): fewer, fuller calls. False for a sink that names what it
    /// stores by sequence (the file sink) or wants one call per batch.
    var mergesBatches: Bool { get }
    func deliver(_ batch: SinkBatch) async -> DeliveryResult
}

extension Sink {
    public var idempotent: Bool { false }
    public var maxConcurrentDeliveries: Int { 1 }
    public var maxFieldBytes: Int? { nil }
    public func highestStoredSequence() -> UInt64? { nil }
    public var mergesBatches: Bool { false }
}
