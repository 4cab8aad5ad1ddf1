import Foundation

public struct ConditionTimedOut: Error, CustomStringConvertible {
    public let description: String
}

/// Waits until `condition` holds, checking every few milliseconds; fails after `timeout` (a generous bound
/// for a stuck test, not a timing assertion).
public func eventually(
    _ what: String = "condition", timeout: Duration = .seconds(120), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(try await condition()) {
        if ContinuousClock.now > deadline { throw ConditionTimedOut(description: "timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}
