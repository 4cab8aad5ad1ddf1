import Synchronization

/// A closed batch on its way to compression and the spool.
public struct SealedBatch: Sendable {
    public let sequence: UInt64
    /// Uncompressed records in `format`, until the compression takes them.
    public let plain: PlainRecords
    public let records: Int
    public let format: BatchFormat
    /// The highest position per source covered by this batch.
    public let positions: [String: SourcePosition]
    public let createdMillis: Int64

    /// The uncompressed records (empty once the compression took them).
    public var payload: [UInt8] { plain.copy }
}

/// A batch's uncompressed records, taken once by the compression: the megabyte is released (or handed back to
/// the batcher for its next batch) as soon as it is compressed, not when the batch has been written and admitted.
public final class PlainRecords: Sendable {
    private let bytes: Mutex<[UInt8]>

    public init(_ bytes: [UInt8]) { self.bytes = Mutex(bytes) }

    /// The records; empty once taken.
    public func take() -> [UInt8] { bytes.withLock { value in
        let taken = value
        value = []
        return taken
    } }

    /// Puts records back (a compression that failed is tried again).
    public func putBack(_ records: [UInt8]) { bytes.withLock { $0 = records } }

    /// A copy of the records, leaving them in place (tests).
    public var copy: [UInt8] { bytes.withLock { $0 } }
}
