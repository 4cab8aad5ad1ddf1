/// One problem in a configuration document: where, what, and how to fix it.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    /// Dotted key path, e.g. `batch.maxBytes` or `docker.include[2]`.
    public let path: String
    public let problem: String
    public let fix: String

    public init(path: String, problem: String, fix: String) {
        self.path = path
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "\(path): \(problem); \(fix)" }

    public var json: JSONValue {
        .object([("path", .string(path)), ("problem", .string(problem)), ("fix", .string(fix))])
    }
}
