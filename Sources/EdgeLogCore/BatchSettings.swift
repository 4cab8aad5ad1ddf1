/// The `batch` section: how records are grouped and compressed before they are spooled.
public struct BatchSettings: Sendable, Equatable {
    /// The Logs Ingestion API takes at most 1 MB per call.
    public static let ingestionLimit: Int64 = 1_000_000

    /// Upper bound of one batch's JSON array, brackets and commas included.
    public var maxBytes: Int64 = 1_000_000
    /// A batch with records is closed at the latest this long after its first record.
    public var flushIntervalSeconds: Double = 5
    /// gzip level, 1 (fastest) to 9 (smallest).
    public var compressionLevel: Int64 = 6

    public init() {}

    init(reading r: inout ConfigReader) {
        maxBytes = r.size(
            "maxBytes", maxBytes, min: 16 * 1024, max: Self.ingestionLimit,
            maxReason: "1000000 limit of the Logs Ingestion API")
        flushIntervalSeconds = r.seconds("flushIntervalSeconds", flushIntervalSeconds, min: 0.01, max: 3600)
        compressionLevel = r.int("compressionLevel", compressionLevel, min: 1, max: 9)
    }

    public var json: JSONValue {
        .object([
            ("maxBytes", .int(maxBytes)),
            ("flushIntervalSeconds", .double(flushIntervalSeconds)),
            ("compressionLevel", .int(compressionLevel)),
        ])
    }
}
