import Dispatch

/// Runs blocking work (copies, compression, scans) on a dedicated serial queue, never on Swift's cooperative
/// pool: a 1 GB compression must not hold one of the few threads the tailers and the uploader run on.
enum Blocking {
    private static let queue = DispatchQueue(label: "edgelog.rotation", qos: .utility)

    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }

    static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await run { () -> Result<T, E> in
            do throws(E) {
                return .success(try body())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
