import AsyncHTTPClient
import EdgeLogCore

/// How an HTTP sink's answer becomes a `DeliveryResult`, the same for `logsIngestion` and `http`:
/// - 429 and 503: retry after `Retry-After` (seconds or HTTP-date), else after backoff; 429 (`.throttled`) also
///   slows the driver down;
/// - 408, 500, 502, 504 and other 5xx, timeouts, connection errors: retry with backoff;
/// - 400, 401 (after one token renewal), 403, 404, 413 and every other status: permanent (dead letter).
/// Reasons start with `HTTP <status>` (or `connection failed` / `timed out`) and end with the request id.
enum HTTPFailure {
    /// The result of a non-success answer.
    static func result(
        _ response: HTTPTransport.Response, requestId: String, requestIdHeader: String, hint: (Int) -> String?
    ) -> DeliveryResult {
        let status = response.status
        var reason = "HTTP \(status)" + summary(response)
        if let hint = hint(status) { reason += "; " + hint }
        reason += " (\(requestIdHeader) \(requestId))"
        reason = URLRedaction.redactURLs(in: reason)
        switch status {
        case 429:
            // Over the upstream's budget: the driver waits and slows down.
            return .throttled(
                reason: reason, retryAfter: response.header("Retry-After").flatMap { RetryAfter.parse($0) })
        case 503:
            return .retryable(
                reason: reason, retryAfter: response.header("Retry-After").flatMap { RetryAfter.parse($0) })
        case 408, 500...599:
            return .retryable(reason: reason, retryAfter: nil)
        default:
            return .permanent(
                reason: reason, detail: detail(response, requestId: requestId, requestIdHeader: requestIdHeader))
        }
    }

    /// ` Code: message` from an Azure error body (`{"error":{"code":…,"message":…}}`), else the body's first line.
    static func summary(_ response: HTTPTransport.Response) -> String {
        if let doc = try? JSONParser.parse(response.body), let error = doc["error"] {
            let code = error["code"]?.stringValue ?? error.stringValue ?? ""
            let message = error["message"]?.stringValue ?? doc["error_description"]?.stringValue ?? ""
            let text = [code, message].filter { !$0.isEmpty }.joined(separator: ": ")
            if !text.isEmpty { return " " + clip(text, 300) }
        }
        let line = response.bodyText.split(whereSeparator: { $0.isNewline }).first.map(String.init) ?? ""
        return line.isEmpty ? "" : " " + clip(line, 200)
    }

    /// Everything kept beside a dead letter: status, request ids, the error body.
    static func detail(_ response: HTTPTransport.Response, requestId: String, requestIdHeader: String) -> String {
        var lines = ["HTTP \(response.status)", "\(requestIdHeader): \(requestId)"]
        for name in ["x-ms-request-id", "x-request-id", "request-id", "date"] {
            if let v = response.header(name) { lines.append("\(name): \(v)") }
        }
        lines.append("body: " + response.bodyText)
        return URLRedaction.redactURLs(in: lines.joined(separator: "\n"))
    }

    /// A transport error in one line: timeouts and connection failures are told apart.
    static func describe(_ error: any Error, timeout: Duration) -> String {
        if error is HTTPTransport.CallTimedOut { return "timed out after \(timeout) (sink.timeoutSeconds)" }
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return "timed out after \(timeout) (sink.timeoutSeconds)"
            case .connectTimeout: return "connection failed: connect timed out"
            case .remoteConnectionClosed: return "connection failed: closed by the server before an answer"
            default: return "connection failed: " + URLRedaction.redactURLs(in: "\(e)")
            }
        }
        if error is CancellationError { return "cancelled" }
        return "connection failed: " + URLRedaction.redactURLs(in: "\(error)")
    }

    /// No answer within the deadline (as opposed to a connection that failed).
    static func isTimeout(_ error: any Error) -> Bool {
        if error is HTTPTransport.CallTimedOut { return true }
        guard let e = error as? HTTPClientError else { return false }
        return e == .deadlineExceeded || e == .readTimeout || e == .writeTimeout
    }

    /// The call was cancelled by EdgeLog itself (shutdown deadline): not an upstream failure, not logged as one.
    static func isCancellation(_ error: any Error) -> Bool {
        error is CancellationError || (error as? HTTPClientError) == .cancelled
    }

    static func clip(_ s: String, _ n: Int) -> String { s.count > n ? String(s.prefix(n)) + "…" : s }
}
