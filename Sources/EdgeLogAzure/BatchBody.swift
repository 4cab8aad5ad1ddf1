import EdgeLogCore

/// A batch's body in the layout a sink sends: the spooled gzip as it is, or converted once if it was spooled for
/// another sink (the sink type was changed with batches still spooled, or a dead letter was retried).
enum BatchBody {
    enum Prepared {
        case body([UInt8])
        /// The spooled bytes cannot be read: the batch can never be sent.
        case unreadable(DeliveryResult)
    }

    static func prepare(_ batch: SinkBatch, as format: BatchFormat, compressor: any BatchCompressor, level: Int)
        -> Prepared
    {
        guard batch.format != format else { return .body(batch.payload) }
        do {
            let plain = try compressor.decompress(batch.payload)
            return .body(
                try compressor.compress(BatchFormat.convert(plain, from: batch.format, to: format), level: level))
        } catch {
            return .unreadable(.permanent(reason: "spooled batch cannot be read: \(error)", detail: "\(error)"))
        }
    }
}
