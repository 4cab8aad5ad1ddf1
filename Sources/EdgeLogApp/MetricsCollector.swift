import EdgeLogCore
import EdgeLogDocker
import EdgeLogJournal
import EdgeLogMetrics
import Synchronization

/// Builds the metrics per scrape from what the process counts anyway (the counters, the running pipeline's
/// spool, sink progress and checkpoints, the twin) and from /proc. Nothing is counted twice and nothing is kept
/// between scrapes but the container names.
public final class MetricsCollector: Sendable {
    let supervisor: Supervisor
    let counters: Counters
    let twin: TwinService?
    /// `iothub`, `edge_device`, `instance_number`.
    let commonLabels: [(String, String)]
    /// Container names by checkpoint key (`docker/<id>`), read once from `config.v2.json`.
    private let names = Mutex<[String: String]>([:])

    /// - Parameters: the supervisor (configuration, running pipeline), the process-wide counters, the twin if
    ///   EdgeLog runs as a module, and the identity whose `iotHub` and `deviceId` become the `iothub` and
    ///   `edge_device` labels.
    public init(supervisor: Supervisor, counters: Counters, twin: TwinService?, host: HostIdentity) {
        self.supervisor = supervisor
        self.counters = counters
        self.twin = twin
        commonLabels = [
            ("iothub", host.iotHub), ("edge_device", host.deviceId), ("instance_number", InstanceNumber.current),
        ]
    }

    /// The endpoints the metrics server answers with, for `path`.
    func endpoints(path: String) -> MetricsEndpoints {
        MetricsEndpoints(
            metricsPath: path, metrics: { PrometheusText.render(self.snapshot()) }, health: { self.health() })
    }

    /// The reasons EdgeLog is unhealthy now (see `HealthRules`); empty when it is healthy.
    public func health(nowMillis: Int64 = FileSystem.nowMillis()) -> [String] {
        let configuration = supervisor.configuration
        guard let pipeline = supervisor.pipeline else {
            // Why, when it is more than a passing moment (a configuration or a pipeline that cannot start).
            return HealthRules.problems(.init(pipelineRunning: false, nowMillis: nowMillis))
                + (supervisor.notRunningReason.map { [$0] } ?? [])
        }
        return HealthRules.problems(
            .init(
                pipelineRunning: true, stoppedSources: pipeline.stoppedSources,
                sinkType: pipeline.configuration.sink.type.rawValue,
                sink: pipeline.driver.progress, spool: pipeline.spool.depth, spoolMaxBytes: pipeline.spool.maxBytes,
                sinkFailureSeconds: configuration.metrics.sinkFailureSeconds, spoolBlocked: pipeline.spool.writeBlocked,
                nowMillis: nowMillis))
    }

    public func snapshot(nowMillis: Int64 = FileSystem.nowMillis()) -> MetricsSnapshot {
        var m = MetricsSnapshot(commonLabels: commonLabels)
        let c = counters
        func n(_ name: Counters.Name) -> Double { Double(c[name]) }
        func by(_ label: String, _ pairs: [(String, Counters.Name)]) -> [MetricSample] {
            pairs.map { MetricSample(labels: [(label, $0.0)], value: n($0.1)) }
        }
        let pipeline = supervisor.pipeline

        // Sources.
        m.add(
            .counter, "edgelog_records_read_total", "Records read, by source.",
            samples: by("source", [("docker", .recordsReadDocker), ("journal", .recordsReadJournal)]))
        m.add(
            .counter, "edgelog_read_bytes_total", "Bytes of input read, by source: json-file log bytes, journal field bytes.",
            samples: by("source", [("docker", .bytesReadDocker), ("journal", .bytesReadJournal)]))
        if let pipeline {
            let lag = dockerLag(pipeline)
            m.add(.gauge, "edgelog_checkpoint_lag_bytes", Self.lagHelp, samples: lag.bytes)
            m.add(
                .gauge, "edgelog_docker_unread_rotated_files",
                "Rotated json-file logs of a container with something not read yet, by container name.",
                samples: lag.files)
            m.add(
                .gauge, "edgelog_journal_committed_entry_timestamp_seconds",
                "When the newest committed journal entry was written (Unix time, from its cursor).",
                samples: Self.journalCommitted(pipeline.checkpoints.positions))
        }

        // Spool and sink.
        m.add(.counter, "edgelog_batches_spooled_total", "Batches written to the spool.", n(.batchesSpooled))
        m.add(.counter, "edgelog_records_spooled_total", "Records written to the spool.", n(.recordsSpooled))
        m.add(.counter, "edgelog_spooled_bytes_total", "Compressed bytes written to the spool.", n(.bytesSpooled))
        m.add(.counter, "edgelog_batches_shipped_total", "Batches the sink confirmed.", n(.batchesDelivered))
        m.add(.counter, "edgelog_records_shipped_total", "Records the sink confirmed.", n(.recordsDelivered))
        m.add(
            .counter, "edgelog_shipped_bytes_total", "Compressed bytes of the batches the sink confirmed.",
            n(.bytesDelivered))
        if supervisor.configuration.sink.type != .file {
            let uploads = c.uploads.snapshot()
            m.add(
                .counter, "edgelog_upload_requests_total",
                "Calls to the upstream, by HTTP status code (timeout and connection_error when there was no answer).",
                samples: uploads.calls.map { MetricSample(labels: [("code", $0.0.label)], value: Double($0.1)) })
            m.add(
                histogram: "edgelog_upload_duration_seconds", "Time of one call to the upstream, until its answer.",
                [HistogramSample(histogram: uploads.latency)])
        }
        m.add(.counter, "edgelog_upload_retries_total", "Failed deliveries that are tried again.", n(.deliveryRetries))
        m.add(
            .counter, "edgelog_upload_retry_after_waits_total", "Retries that waited for the upstream's Retry-After.",
            n(.deliveryRetryAfterWaits))
        m.add(
            .counter, "edgelog_upload_retry_after_seconds_total", "Time spent waiting for the upstream's Retry-After.",
            n(.deliveryRetryAfterMillis) / 1000)
        m.add(
            .counter, "edgelog_upload_throttled_total",
            "Answers that the upstream is over its budget (HTTP 429); each slowed the sending down.",
            n(.deliveryThrottled))
        m.add(
            .counter, "edgelog_upload_merged_calls_total",
            "Calls that carried several spooled batches merged into one body (a backlog draining).", n(.callsMerged))
        m.add(
            .counter, "edgelog_upload_merged_batches_total", "Spooled batches that went out in merged calls.",
            n(.batchesMerged))
        m.add(
            .gauge, "edgelog_uplink_max_bytes_per_second",
            "The uplink budget (sink.maxBytesPerSecond, compressed bytes per second); 0 when there is none.",
            Double(supervisor.configuration.sink.maxBytesPerSecond))
        if let pipeline {
            let depth = pipeline.spool.depth
            m.add(.gauge, "edgelog_spool_batches", "Batches waiting in the spool.", Double(depth.batches))
            m.add(.gauge, "edgelog_spool_records", "Records waiting in the spool.", Double(depth.records))
            m.add(.gauge, "edgelog_spool_bytes", "Bytes of the batches waiting in the spool.", Double(depth.bytes))
            m.add(
                .gauge, "edgelog_spool_max_bytes", "The spool's budget (spool.maxBytes).",
                Double(pipeline.spool.maxBytes))
            let age = depth.oldestCreatedMillis.map { Double(max(0, nowMillis - $0)) / 1000 } ?? 0
            m.add(
                .gauge, "edgelog_spool_oldest_age_seconds",
                "Age of the oldest spooled batch; 0 when the spool is empty.", age)
            let blocked = pipeline.spool.writeBlocked
            m.add(
                .gauge, "edgelog_spool_write_blocked",
                "1 while the spool cannot be written (a full disk, EIO): reading waits, nothing is committed past it.",
                blocked == nil ? 0 : 1)
            m.add(
                .gauge, "edgelog_spool_write_blocked_seconds", "How long the spool has not been writable; 0 when it is.",
                blocked.map { Double(max(0, nowMillis - $0.sinceMillis)) / 1000 } ?? 0)
            let progress = pipeline.driver.progress
            if let last = progress.lastDeliveryMillis {
                m.add(
                    .gauge, "edgelog_last_delivery_timestamp_seconds",
                    "When the sink last confirmed a batch (Unix time).",
                    Double(last) / 1000)
            }
            let failing = progress.failingSinceMillis.map { Double(max(0, nowMillis - $0)) / 1000 } ?? 0
            m.add(
                .gauge, "edgelog_sink_failing_seconds",
                "How long every attempt of the sink has failed; 0 when the last attempt succeeded.", failing)
            let pace = pipeline.driver.pace
            m.add(
                .gauge, "edgelog_sink_window",
                "Calls allowed in flight at once: sink.concurrency, halved by a 429, narrowed to 1 by a failure, regained one per delivered call.",
                Double(pace.width))
            m.add(
                .gauge, "edgelog_sink_call_interval_seconds",
                "The least time between two calls' starts while the sink is slowed down by 429s; 0 when it is not.",
                pace.callInterval.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0)
            m.add(
                .gauge, "edgelog_sink_congested",
                "1 for ten budget windows (sink.budgetWindowSeconds) after a 429: new calls then wait to be full (batch.maxBytes) or two windows after the last delivered call; 0 otherwise.",
                pace.congested ? 1 : 0)
            if let rate = pipeline.driver.deliveryRate(nowMillis: nowMillis) {
                m.add(
                    .gauge, "edgelog_delivery_rate_bytes_per_second",
                    "Spool bytes (compressed) the sink confirmed per second over the last minute.", rate)
            }
            // Time to drain: spool bytes over the rate they leave at (measured, or the uplink budget).
            if depth.bytes == 0 {
                m.add(.gauge, "edgelog_spool_drain_seconds", Self.drainHelp, 0)
            } else if let rate = pipeline.driver.effectiveRate(nowMillis: nowMillis), rate > 0 {
                m.add(.gauge, "edgelog_spool_drain_seconds", Self.drainHelp, Double(depth.bytes) / rate)
            }
        }

        m.add(
            .counter, "edgelog_spool_write_blocks_total",
            "Episodes of a spool that could not be written (a full disk, EIO); each is logged once.",
            n(.spoolWriteBlocks))

        // Losses.
        m.add(
            .counter, "edgelog_records_dropped_total",
            "Records lost or cut, by reason: ttl and size (dropped from the spool), dead_letter (refused by the sink), damaged (a spool file that failed its check, kept with the dead letters), malformed (unreadable lines), oversize (lines whose tail was skipped), truncated (messages cut, the record kept).",
            samples: by(
                "reason",
                [
                    ("ttl", .spoolDroppedTTLRecords), ("size", .spoolDroppedSizeRecords),
                    ("dead_letter", .recordsDeadLettered), ("damaged", .spoolDamagedRecords),
                    ("malformed", .linesMalformed), ("oversize", .linesOversize), ("truncated", .messagesTruncated),
                ]))
        m.add(
            .counter, "edgelog_records_filtered_total",
            "Records the filters section dropped on purpose, by reason: level (above the rule's maxLevel), drop (matched a drop pattern), keep (matched no keep pattern), rate_limit (over the rule's rateLimit).",
            samples: by(
                "reason",
                [
                    ("level", .recordsFilteredLevel), ("drop", .recordsFilteredDrop), ("keep", .recordsFilteredKeep),
                    ("rate_limit", .recordsRateLimited),
                ]))
        m.add(
            .counter, "edgelog_messages_redacted_total", "Messages in which the redaction section replaced something.",
            n(.messagesRedacted))
        m.add(
            .counter, "edgelog_spool_dropped_bytes_total",
            "Bytes of batches dropped from the spool, by reason (ttl, size).",
            samples: by("reason", [("ttl", .spoolDroppedTTLBytes), ("size", .spoolDroppedSizeBytes)]))
        m.add(
            .counter, "edgelog_errors_total",
            "Errors by kind: read (source files), spool_write, checkpoint_write, spool_read (a spooled batch unreadable), spool_damaged (a spooled batch that failed its check), rotation.",
            samples: by(
                "kind",
                [
                    ("read", .readErrors), ("spool_write", .spoolWriteErrors),
                    ("checkpoint_write", .checkpointWriteErrors),
                    ("spool_read", .deliveryFailures), ("spool_damaged", .spoolDamagedBatches),
                    ("rotation", .rotationErrors),
                ]))
        m.add(
            .counter, "edgelog_checkpoint_resets_total",
            "Times checkpoints.json could not be used (damaged, or missing beside a spool holding batches): set aside, positions rebuilt from the spool.",
            n(.checkpointResets))
        m.add(
            .counter, "edgelog_checkpoint_reset_sources_total",
            "Sources that had no position after a checkpoint reset and started from their readFrom.",
            n(.checkpointResetSources))

        m.add(
            .counter, "edgelog_docker_rotation_gaps_total",
            "Times dockerd deleted rotated json-file logs before EdgeLog could read them.", n(.dockerRotationGaps))
        m.add(
            .counter, "edgelog_docker_lost_bytes_total",
            "Bytes of json-file logs dockerd deleted before EdgeLog could read them (estimated where files were never seen).",
            n(.dockerBytesLost))
        m.add(
            .counter, "edgelog_docker_partials_shipped_total",
            "Docker entries without their newline shipped as their own record, by reason: unterminated (not continued within docker.partialFlushSeconds, the container's run ended, or EdgeLog stopped), memory (cut to stay within docker.maxPendingBytes).",
            samples: by("reason", [("unterminated", .partialsFlushed), ("memory", .partialsCut)]))
        m.add(
            .counter, "edgelog_docker_nul_bytes_skipped_total",
            "NUL bytes skipped in json-file logs (a power cut while appending, or a copytruncate under a writer without O_APPEND).",
            n(.nulBytesSkipped))

        // Rotation.
        m.add(.counter, "edgelog_rotations_total", "Files rotated.", n(.rotations))
        m.add(
            .counter, "edgelog_rotation_compressed_bytes_total", "Bytes of rotated files compressed.",
            n(.rotationBytesCompressed))
        m.add(
            .counter, "edgelog_rotation_freed_bytes_total",
            "Disk bytes freed by compression and deletion of rotated files.",
            n(.rotationBytesFreed))
        m.add(
            .counter, "edgelog_rotation_deleted_files_total", "Rotated files deleted (count, age or budget).",
            n(.rotationFilesDeleted))
        m.add(
            .counter, "edgelog_rotation_hard_link_refusals_total",
            "Copytruncate rotations refused because the file has other hard links.", n(.rotationHardLinkRefusals))

        // Configuration and twin.
        m.add(
            .gauge, "edgelog_config_generation", "Configuration changes applied since the start.",
            Double(supervisor.generation))
        m.add(
            .gauge, "edgelog_config_pending",
            "1 while a newer configuration could not be applied (the one in force stays; it is tried again).",
            supervisor.pending == nil ? 0 : 1)
        m.add(
            .gauge, "edgelog_config_last_good",
            "1 while the configuration in force is the last good one restored from the state directory.",
            supervisor.inForce?.lastGood == true ? 1 : 0)
        if let twin {
            m.add(
                .gauge, "edgelog_twin_connected", "1 while the module twin's connection to edgeHub is up.",
                twin.isConnected ? 1 : 0)
            if let version = twin.appliedVersion {
                m.add(
                    .gauge, "edgelog_config_applied_version", "The desired properties version last applied.",
                    Double(version))
            }
        }

        // Health and process.
        m.add(.gauge, "edgelog_healthy", "1 when /healthz answers 200.", health(nowMillis: nowMillis).isEmpty ? 1 : 0)
        if let rss = ProcessStats.residentBytes() {
            m.add(.gauge, "edgelog_process_resident_memory_bytes", "Resident memory of the process.", Double(rss))
        }
        if let fds = ProcessStats.openFileDescriptors() {
            m.add(.gauge, "edgelog_process_open_fds", "Open file descriptors of the process.", Double(fds))
        }
        return m
    }

    static let lagHelp =
        "Bytes of a container's json-file logs not yet committed (past the checkpoint, rotated files not read yet included), by container name."

    static let drainHelp =
        "Estimated time to deliver what the spool holds: its bytes over the delivery rate of the last minute (the uplink budget, sink.maxBytesPerSecond, when nothing was delivered in that time); absent when neither is known."

    /// Docker positions: bytes behind the end of the live file over the rotation chain, and rotated files not
    /// read yet, summed by container name.
    private func dockerLag(_ pipeline: Pipeline) -> (bytes: [MetricSample], files: [MetricSample]) {
        var lag: [(String, Int64, Int)] = []
        var keys: Set<String> = []
        for (key, position) in pipeline.checkpoints.positions where key.hasPrefix("docker/") {
            guard case .file(let f) = position, let backlog = StatusReport.dockerBacklog(key: key, position: f) else {
                continue
            }
            keys.insert(key)
            let name = containerName(key: key, logPath: f.path)
            if let i = lag.firstIndex(where: { $0.0 == name }) {
                lag[i].1 += backlog.bytes
                lag[i].2 += backlog.unreadRotatedFiles
            } else {
                lag.append((name, backlog.bytes, backlog.unreadRotatedFiles))
            }
        }
        names.withLock { cache in
            if cache.count > keys.count { cache = cache.filter { keys.contains($0.key) } }
        }
        let sorted = lag.sorted { $0.0 < $1.0 }
        return (
            sorted.map { MetricSample(labels: [("source", "docker"), ("container", $0.0)], value: Double($0.1)) },
            sorted.map { MetricSample(labels: [("source", "docker"), ("container", $0.0)], value: Double($0.2)) }
        )
    }

    /// The journal cursor's realtime timestamp: how far shipping has come in the journal's time.
    static func journalCommitted(_ positions: [String: SourcePosition]) -> [MetricSample] {
        var newest: UInt64?
        for (_, position) in positions {
            guard case .cursor(let cursor) = position, let micros = JournalCursor.realtime(cursor) else { continue }
            newest = max(newest ?? 0, micros)
        }
        guard let newest else { return [] }
        return [MetricSample(labels: [("source", "journal")], value: Double(newest / 1000) / 1000)]
    }

    private func containerName(key: String, logPath: String) -> String {
        if let known = names.withLock({ $0[key] }) { return known }
        guard let name = ContainerNames.name(logPath: logPath) else { return String(key.dropFirst(7).prefix(12)) }
        names.withLock { $0[key] = name }
        return name
    }
}
