/// The embedded default sink: each batch becomes `<directory>/edgelog-<sequence>.ndjson.gz`, gzip of one JSON
/// record per line, written atomically (temp + fsync + rename), private to EdgeLog's user (0600; a folder it
/// creates is 0700). No cloud account needed.
public struct FileSink: Sink {
    public let directory: String
    private let compressor: any BatchCompressor
    private let level: Int

    public init(directory: String, compressor: any BatchCompressor, level: Int) {
        self.directory = directory
        self.compressor = compressor
        self.level = level
    }

    public var name: String { "file" }
    public var format: BatchFormat { .ndjson }
    /// The file name is the batch's sequence: delivering it again rewrites the same file.
    public var idempotent: Bool { true }

    /// The highest sequence among the files in the folder (one listing, at a pipeline's start).
    public func highestStoredSequence() -> UInt64? {
        var highest: UInt64?
        for name in (try? FileSystem.list(directory)) ?? [] where name.hasPrefix("edgelog-") && name.hasSuffix(".ndjson.gz") {
            guard let sequence = UInt64(name.dropFirst(8).dropLast(10)), sequence <= SpoolEntry.maxSequence else { continue }
            highest = max(highest ?? 0, sequence)
        }
        return highest
    }

    public static func fileName(sequence: UInt64) -> String {
        let seq = String(sequence)
        return "edgelog-" + String(repeating: "0", count: max(0, 12 - seq.count)) + seq + ".ndjson.gz"
    }

    /// Converts (if needed) and writes the batch on the `BlockingPool`.
    public func deliver(_ batch: SinkBatch) async -> DeliveryResult {
        await BlockingPool.run { self.write(batch) }
    }

    private func write(_ batch: SinkBatch) -> DeliveryResult {
        var payload = batch.payload
        if batch.format != .ndjson {
            // Spooled under another sink's layout (the sink was changed live): convert once.
            do {
                let plain = try compressor.decompress(batch.payload)
                payload = try compressor.compress(BatchFormat.convert(plain, from: batch.format, to: .ndjson), level: level)
            } catch {
                return .permanent(reason: "spooled batch cannot be read", detail: "\(error)")
            }
        }
        do {
            try FileSystem.makeDirectories(directory)
            try FileSystem.writeAtomically(payload, to: directory + "/" + Self.fileName(sequence: batch.sequence))
            return .delivered
        } catch {
            // A full disk or a permission problem may clear up: retry with backoff, never drop.
            return .retryable(reason: "\(error)", retryAfter: nil)
        }
    }
}
