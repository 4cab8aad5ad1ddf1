import Synchronization

/// Process-wide counters. Logs and counters come from the same call sites (`Events`), so they never disagree.
public final class Counters: Sendable {
    public enum Name: String, CaseIterable, Sendable {
        case recordsRead, bytesRead, linesMalformed, linesOversize, messagesTruncated, invalidUTF8Replaced
        /// `recordsRead` and `bytesRead` by source.
        case recordsReadDocker, bytesReadDocker, recordsReadJournal, bytesReadJournal
        case filesTruncatedDetected, filesRotatedFollowed, readErrors
        case batchesSpooled, recordsSpooled, bytesSpooled
        case batchesDelivered, recordsDelivered, bytesDelivered, deliveryRetries, deliveryFailures
        /// Retries that waited for the upstream's `Retry-After`, and how long they waited in all.
        case deliveryRetryAfterWaits, deliveryRetryAfterMillis
        case batchesDeadLettered, recordsDeadLettered
        case spoolDroppedTTLBatches, spoolDroppedTTLRecords, spoolDroppedTTLBytes
        case spoolDroppedSizeBatches, spoolDroppedSizeRecords, spoolDroppedSizeBytes
        case spoolWriteErrors, checkpointWriteErrors
        case rotations, rotationBytesCompressed, rotationBytesFreed, rotationFilesDeleted, rotationErrors
        case journalFieldsTruncated, journalCursorGaps, journalFilesSkipped
        /// Episodes of a spool that cannot be written (full disk, EIO): reading waited meanwhile.
        case spoolWriteBlocks
        /// Spool files that failed their check before delivery (moved to the dead letters).
        case spoolDamagedBatches, spoolDamagedRecords
        /// Times the checkpoint file was unusable (damaged, or missing beside a non-empty spool) and the positions
        /// were rebuilt from the spool; sources that then had no position and started from their `readFrom`.
        case checkpointResets, checkpointResetSources
        /// Copytruncate refused because the file has other hard links (truncating would empty them too).
        case rotationHardLinkRefusals
        /// Records the `filters` section dropped, by reason: under the rule's `maxLevel`, matched by `drop`, not
        /// matched by `keep`, over the rate limit; and messages `redaction` changed.
        case recordsFilteredLevel, recordsFilteredDrop, recordsFilteredKeep, recordsRateLimited, messagesRedacted
        /// Docker: times a container's rotation chain had a gap (files dockerd deleted before they were read), and
        /// an estimate of the bytes lost in them.
        case dockerRotationGaps, dockerBytesLost
        /// Docker: unterminated entries shipped as their own record (not continued within `partialFlushSeconds`,
        /// the container's run ended, or EdgeLog stopped), and open messages shipped cut to bound memory
        /// (`maxPendingBytes`).
        case partialsFlushed, partialsCut
        /// Docker: NUL bytes skipped (a power cut while appending, or a copytruncate under a writer without O_APPEND).
        case nulBytesSkipped
        /// Answers that the upstream is over its budget (HTTP 429): the driver slowed down for them.
        case deliveryThrottled
        /// Calls that carried several spooled batches merged (a backlog draining), and the batches they carried.
        case callsMerged, batchesMerged
    }

    /// Calls to the upstream by answer, and their latency (the HTTP sinks record them).
    public let uploads = UploadStats()

    private let values = Mutex<[Int]>(Array(repeating: 0, count: Name.allCases.count))
    private static let index: [Name: Int] = Dictionary(
        uniqueKeysWithValues: Name.allCases.enumerated().map { ($1, $0) })

    public init() {}

    public func add(_ name: Name, _ amount: Int = 1) {
        guard amount != 0 else { return }
        let i = Self.index[name]!
        values.withLock { $0[i] += amount }
    }

    public subscript(_ name: Name) -> Int {
        let i = Self.index[name]!
        return values.withLock { $0[i] }
    }

    public func snapshot() -> [(Name, Int)] {
        let v = values.withLock { $0 }
        return Name.allCases.enumerated().map { ($1, v[$0]) }
    }

    private let restored = Mutex(false)

    /// Starts from persisted totals (drops are reported across restarts). Only the first call counts: counters
    /// shared by successive pipelines (a live reconfiguration) keep running.
    public func restore(_ totals: [String: Int64]) {
        guard restored.withLock({ r in defer { r = true }; return !r }) else { return }
        values.withLock { v in
            for (i, name) in Name.allCases.enumerated() { v[i] += Int(totals[name.rawValue] ?? 0) }
        }
    }

    public var json: JSONValue { .object(snapshot().map { ($0.0.rawValue, .int(Int64($0.1))) }) }
}
