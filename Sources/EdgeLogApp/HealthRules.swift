import EdgeLogCore

/// When `/healthz` (and `edgelog healthcheck`) says EdgeLog is unhealthy. Each rule gives a reason:
/// 1. no pipeline is running (starting, or between two pipelines during a reconfiguration);
/// 2. a source ended on its own (its task died; it reads nothing more until a restart or reconfiguration);
/// 3. the sink has failed every attempt for `metrics.sinkFailureSeconds` while the spool holds data or batches went
///    to the dead-letter folder meanwhile (refused for good counts as failed; one delivery clears it);
/// 4. the spool holds more than 90 % of `spool.maxBytes` (the next batches push the oldest out);
/// 5. the spool has not been writable for `spoolBlockedSeconds` (a full disk, EIO): reading waits meanwhile.
enum HealthRules {
    /// How long writes to the spool may fail before health says so (a moment of a full disk is not a problem).
    static let spoolBlockedSeconds: Int64 = 30

    struct Inputs {
        var pipelineRunning: Bool
        var stoppedSources: [(source: String, reason: String)] = []
        var sinkType: String = "file"
        var sink = SinkDriver.Progress()
        var spool = SpoolDepth()
        var spoolMaxBytes: Int64 = SpoolSettings().maxBytes
        var sinkFailureSeconds: Double = MetricsSettings().sinkFailureSeconds
        var spoolBlocked: SpoolWriteBlock? = nil
        var nowMillis: Int64
    }

    /// The reasons, one per broken rule; empty when healthy.
    static func problems(_ i: Inputs) -> [String] {
        guard i.pipelineRunning else {
            return ["the pipeline is not running (starting, or restarting with a new configuration)"]
        }
        var problems: [String] = []
        for (source, reason) in i.stoppedSources {
            problems.append("the \(source) source stopped: \(clip(reason))")
        }
        if let since = i.sink.failingSinceMillis, i.spool.batches > 0 || i.sink.deadLettersWhileFailing > 0 {
            let failing = Double(max(0, i.nowMillis - since)) / 1000
            if failing >= i.sinkFailureSeconds {
                var text = "the \(i.sinkType) sink has failed every attempt for \(Int(failing)) s"
                text += " (metrics.sinkFailureSeconds is \(seconds(i.sinkFailureSeconds)))"
                if i.spool.batches > 0 { text += " with \(i.spool.batches) batch(es) spooled" }
                if i.sink.deadLettersWhileFailing > 0 {
                    text += ", \(i.sink.deadLettersWhileFailing) dead-lettered meanwhile"
                }
                if let error = i.sink.lastError { text += "; last error: \(clip(error))" }
                problems.append(text)
            }
        }
        if i.spool.bytes * 10 > i.spoolMaxBytes * 9 {
            let tenths = i.spool.bytes * 1000 / max(1, i.spoolMaxBytes)
            problems.append(
                "the spool holds \(i.spool.bytes) bytes, \(tenths / 10).\(tenths % 10) % of spool.maxBytes (\(i.spoolMaxBytes)); the oldest batches are dropped next"
            )
        }
        if let blocked = i.spoolBlocked {
            let seconds = max(0, i.nowMillis - blocked.sinceMillis) / 1000
            if seconds >= Self.spoolBlockedSeconds {
                let what = blocked.diskFull ? "the disk is full" : "writes fail"
                problems.append(
                    "the spool cannot be written for \(seconds) s (\(what): \(clip(blocked.reason))); reading waits, nothing is lost while the sources keep their files"
                )
            }
        }
        return problems
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() && value < 1e15 ? String(Int64(value)) : "\(value)"
    }

    private static func clip(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.count > 300 ? String(line.prefix(300)) + "…" : line
    }
}
