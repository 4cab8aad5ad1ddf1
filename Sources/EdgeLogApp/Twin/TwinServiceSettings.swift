import EdgeLogCore

/// Connection settings of the twin client. The report interval is the configuration's
/// `twin.reportIntervalSeconds` (it follows desired properties); `EDGELOG_TWIN_REPORT_INTERVAL_SECONDS`, for
/// development, overrides it. `EDGELOG_SAS_TOKEN_TTL_SECONDS` (default 3600) sets the token validity.
public struct TwinServiceSettings: Sendable {
    /// Overrides `twin.reportIntervalSeconds` when set.
    public var reportIntervalSeconds: Double?
    public var tokenValiditySeconds: Int64 = 3600
    public var keepAliveSeconds: UInt16 = 60
    /// A twin GET not answered within this is sent again.
    public var getTimeout: Duration = .seconds(30)
    public var reconnectBackoff = Backoff(initial: .seconds(1), maximum: .seconds(60))
    /// `rotateNow`: from the end of one forced pass to the start of the next. Each forced pass makes a new
    /// rotated file of every managed log, and `rotation.rotate` of them are kept: back-to-back calls would push
    /// the history out within minutes.
    public var rotateNowMinimumInterval: Duration = .seconds(60)
    /// `getRecentLogs`: the answer's size as sent (JSON, escapes included), within IoT Hub's 128 KB for a
    /// method's payload.
    public var maxMethodAnswerBytes = 128_000

    public init() {}

    public init(environment env: [String: String]) {
        if let v = env["EDGELOG_TWIN_REPORT_INTERVAL_SECONDS"].flatMap(Double.init), v > 0 { reportIntervalSeconds = v }
        if let v = env["EDGELOG_SAS_TOKEN_TTL_SECONDS"].flatMap(Int64.init), v >= 10 { tokenValiditySeconds = v }
    }

    /// Reconnect (with a new token) when this much validity is left: a tenth, at least 5 s, at most 5 min.
    var renewMarginSeconds: Int64 { min(300, max(5, tokenValiditySeconds / 10)) }
}
