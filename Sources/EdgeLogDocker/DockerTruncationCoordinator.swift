import EdgeLogCore
import Synchronization

/// The Docker source's side of `TruncationCoordinator`: requests are queued here and carried out by the source's
/// own task between two reads (the tailers belong to that task alone). With no source running, every request
/// is answered at once: nothing is followed, nothing to coordinate.
public final class DockerTruncationCoordinator: TruncationCoordinator, Sendable {
    enum Request: Sendable {
        case prepare(String, CheckedContinuation<Bool, Never>)
        case finish(String, Int64, String, CheckedContinuation<Void, Never>)
        case cancel(String)
    }

    private struct State {
        var doorbell: AsyncStream<Void>.Continuation?
        var requests: [Request] = []
    }
    private let state = Mutex(State())

    public init() {}

    public func prepareTruncation(path: String) async -> Bool {
        await withCheckedContinuation { c in
            if !enqueue(.prepare(path, c)) { c.resume(returning: false) }
        }
    }

    public func finishTruncation(path: String, truncatedAt: Int64, rotatedCopy: String) async {
        await withCheckedContinuation { c in
            if !enqueue(.finish(path, truncatedAt, rotatedCopy, c)) { c.resume() }
        }
    }

    public func cancelTruncation(path: String) async {
        _ = enqueue(.cancel(path))
    }

    private func enqueue(_ request: Request) -> Bool {
        let bell: AsyncStream<Void>.Continuation? = state.withLock { s in
            guard let bell = s.doorbell else { return nil }
            s.requests.append(request)
            return bell
        }
        bell?.yield()
        return bell != nil
    }

    func attach(_ doorbell: AsyncStream<Void>.Continuation) {
        state.withLock { $0.doorbell = doorbell }
    }

    /// The source stops: answer whatever is still queued.
    func detach() {
        let pending = state.withLock { s -> [Request] in
            s.doorbell = nil
            defer { s.requests = [] }
            return s.requests
        }
        for request in pending {
            switch request {
            case .prepare(_, let c): c.resume(returning: false)
            case .finish(_, _, _, let c): c.resume()
            case .cancel: break
            }
        }
    }

    func take() -> [Request] {
        state.withLock { s in
            defer { s.requests = [] }
            return s.requests
        }
    }
}
