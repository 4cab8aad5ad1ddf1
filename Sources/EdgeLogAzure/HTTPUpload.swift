import EdgeLogCore
import Logging

/// What both HTTP sinks do with a batch's body: POST it with a fresh request id, turn a transport failure or a
/// refusal into a `DeliveryResult` (`HTTPFailure`), and log each failed batch as
/// `sink <name> failed batch <n>: <reason>` (an error when it is for good, a warning when it will be tried again).
/// The sinks add their headers, their idea of success and their hints.
struct HTTPUpload: Sendable {
    /// The sink's name in logs.
    let sinkName: String
    /// The header that carries the request id (`x-ms-client-request-id`, `X-Request-ID`).
    let requestIdHeader: String
    let transport: HTTPTransport
    let logger: Logger
    /// Where each call's answer and latency are recorded (for metrics).
    let uploads: UploadStats?

    /// How one POST ended.
    enum Outcome {
        /// An answer, whatever its status, and the request id it was sent with.
        case answered(HTTPTransport.Response, requestId: String)
        /// No answer: the result to return (already logged).
        case failed(DeliveryResult)
    }

    /// POSTs `body` with `headers` and a fresh request id. A call EdgeLog cancelled itself (shutdown) is retried
    /// later and not logged as a failure.
    func post(_ url: String, headers: [(String, String)], body: [UInt8], batch: SinkBatch) async -> Outcome {
        let requestId = RequestID.make()
        do {
            let response = try await transport.post(
                url, headers: headers + [(requestIdHeader, requestId)], body: body, recordingIn: uploads)
            return .answered(response, requestId: requestId)
        } catch {
            if HTTPFailure.isCancellation(error) { return .failed(.retryable(reason: "cancelled at shutdown", retryAfter: nil)) }
            let reason =
                HTTPFailure.describe(error, timeout: transport.timeout) + " (\(requestIdHeader) \(requestId))"
            return .failed(logged(.retryable(reason: reason, retryAfter: nil), batch: batch))
        }
    }

    /// The result of an answer that is not a success, logged.
    func refused(
        _ response: HTTPTransport.Response, requestId: String, batch: SinkBatch, hint: (Int) -> String?
    ) -> DeliveryResult {
        logged(
            HTTPFailure.result(response, requestId: requestId, requestIdHeader: requestIdHeader, hint: hint),
            batch: batch)
    }

    /// Logs a failed batch: an error when it is for good, a warning when it will be tried again.
    func logged(_ result: DeliveryResult, batch: SinkBatch) -> DeliveryResult {
        switch result {
        case .permanent(let reason, _): logger.error("sink \(sinkName) failed batch \(batch.sequence): \(reason)")
        case .retryable(let reason, _), .throttled(let reason, _):
            logger.warning("sink \(sinkName) failed batch \(batch.sequence): \(reason)")
        case .delivered: break
        }
        return result
    }
}
