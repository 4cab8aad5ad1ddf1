import EdgeLogCore
import Foundation
import Synchronization

/// A sink for pipeline tests: keeps every delivered record (decompressed with `decompress`), and can be told to
/// fail the next deliveries.
public final class CollectingSink: Sink, @unchecked Sendable {
    private let state = Mutex<(records: [String], batches: Int, failNext: Int, permanentNext: Int)>(([], 0, 0, 0))
    private let decompress: @Sendable ([UInt8]) throws -> [UInt8]
    public let format: BatchFormat

    public init(format: BatchFormat = .ndjson, decompress: @escaping @Sendable ([UInt8]) throws -> [UInt8]) {
        self.format = format
        self.decompress = decompress
    }

    public var name: String { "collect" }
    public var records: [String] { state.withLock { $0.records } }
    public var batches: Int { state.withLock { $0.batches } }
    public func failNext(_ n: Int) { state.withLock { $0.failNext = n } }
    public func refuseNext(_ n: Int) { state.withLock { $0.permanentNext = n } }

    public func deliver(_ batch: SinkBatch) async -> DeliveryResult {
        let plan = state.withLock { s -> Int in
            if s.permanentNext > 0 { s.permanentNext -= 1; return 2 }
            if s.failNext > 0 { s.failNext -= 1; return 1 }
            return 0
        }
        if plan == 1 { return .retryable(reason: "injected failure", retryAfter: .milliseconds(1)) }
        if plan == 2 { return .permanent(reason: "injected refusal", detail: "test") }
        guard let plain = try? decompress(batch.payload) else {
            return .permanent(reason: "not gzip", detail: "")
        }
        let ndjson = BatchFormat.convert(plain, from: batch.format, to: .ndjson)
        let lines = ndjson.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
        state.withLock {
            $0.records.append(contentsOf: lines)
            $0.batches += 1
        }
        return .delivered
    }
}
