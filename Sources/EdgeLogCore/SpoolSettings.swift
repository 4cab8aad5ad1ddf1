/// The `spool` section: the on-disk buffer of batches not yet delivered, and its budget.
public struct SpoolSettings: Sendable, Equatable {
    /// Disk budget; when a new batch would exceed it the oldest batches are dropped (counted).
    public var maxBytes: Int64 = 256 << 20
    /// Batches older than this are dropped undelivered (counted); edgeHub's store-and-forward default.
    public var timeToLiveSeconds: Int64 = 7200

    public init() {}

    init(reading r: inout ConfigReader) {
        maxBytes = r.size("maxBytes", maxBytes, min: 16 * 1024)
        timeToLiveSeconds = r.int("timeToLiveSeconds", timeToLiveSeconds, min: 1, max: 366 * 86400)
    }

    public var json: JSONValue {
        .object([("maxBytes", .int(maxBytes)), ("timeToLiveSeconds", .int(timeToLiveSeconds))])
    }
}
