/// Records a source hands to the batcher in one go: encoded back to back, with the source position
/// reached after each one, so a batch can end between any two records and still commit exactly.
public struct RecordChunk: Sendable {
    /// The checkpoint key of the source, e.g. `docker/<container id>`.
    public var source: String
    /// Encoded records (JSON objects), back to back with no separator.
    public var data: [UInt8] = []
    /// End offset in `data` of each record.
    public var ends: [Int] = []
    /// Position after each record.
    public var positions: [SourcePosition] = []
    /// Position after everything the source consumed for this chunk (lines skipped after the last record
    /// included). Committed with the chunk's last record, or on its own if the chunk has none.
    public var finalPosition: SourcePosition?

    public init(source: String) { self.source = source }

    public var count: Int { ends.count }
    public var isEmpty: Bool { ends.isEmpty && finalPosition == nil }

    /// Marks the bytes appended to `data` since the last record as one record ending at `position`.
    public mutating func closeRecord(at position: SourcePosition) {
        ends.append(data.count)
        positions.append(position)
    }

    public mutating func reset(source: String) {
        self.source = source
        data.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        finalPosition = nil
    }
}
