import AsyncHTTPClient
import EdgeLogCore

extension HTTPTransport {
    /// `post`, recording the call's outcome and latency in `uploads` (a call EdgeLog cancelled itself is not an
    /// upstream outcome and is not recorded).
    func post(
        _ url: String, headers: [(String, String)], body: [UInt8], recordingIn uploads: UploadStats?
    ) async throws -> Response {
        guard let uploads else { return try await post(url, headers: headers, body: body) }
        let start = ContinuousClock.now
        func seconds() -> Double {
            let (s, atto) = (ContinuousClock.now - start).components
            return Double(s) + Double(atto) / 1e18
        }
        do {
            let response = try await post(url, headers: headers, body: body)
            uploads.record(.status(response.status), seconds: seconds())
            return response
        } catch {
            if !HTTPFailure.isCancellation(error) {
                uploads.record(HTTPFailure.isTimeout(error) ? .timeout : .connectionError, seconds: seconds())
            }
            throw error
        }
    }
}
