import EdgeLogTwin
import Synchronization

/// The twin session of one connection, shared by its tasks.
final class SessionBox: Sendable {
    let state = Mutex(TwinSession())
    /// Reported patches, one at a time (`TwinService.report`).
    let reports = AsyncSerial()
}
