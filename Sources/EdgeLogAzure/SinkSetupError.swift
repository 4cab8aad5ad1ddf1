/// A sink cannot be built from the configuration and the environment: what is wrong, with the key or
/// variable it concerns and how to fix it. Never carries a secret's value.
public struct SinkSetupError: Error, Sendable, CustomStringConvertible {
    /// One line: the key or variable, what is wrong, what to do.
    public let description: String

    /// Wraps one line of explanation.
    public init(_ description: String) { self.description = description }
}
