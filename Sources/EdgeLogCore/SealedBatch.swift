/// A closed batch on its way to compression and the spool.
public struct SealedBatch: Sendable {
    public let sequence: UInt64
    /// Uncompressed records in `format`.
    public let payload: [UInt8]
    public let records: Int
    public let format: BatchFormat
    /// The highest position per source covered by this batch.
    public let positions: [String: SourcePosition]
    public let createdMillis: Int64
}
