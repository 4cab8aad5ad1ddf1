import EdgeLogCore

/// A part of the running service that must be ready for a configuration before the supervisor applies it
/// (the metrics listener binds its new port before the old one is given up). Two phases: `prepare`, then
/// `finish` with whether the configuration was applied after all.
public protocol ConfigurationStage: AnyObject, Sendable {
    /// Gets ready for `new` while what serves the configuration in force keeps working. Returns why `new` cannot
    /// be applied (empty: ready).
    func prepare(_ new: Configuration) async -> [Diagnostic]
    /// After a successful `prepare`: `new` is in force now (`applied`), or it was refused for another reason and
    /// what served before stays.
    func finish(applied: Bool) async
}

/// Where a configuration came from.
public enum ConfigurationOrigin: Sendable, Equatable, CustomStringConvertible {
    /// The config file (or the built-in defaults) the process was started with.
    case file
    /// The config file merged with the module twin's desired properties of this `$version`.
    case desired(version: Int64)

    public var description: String {
        switch self {
        case .file: return "the config file"
        case .desired(let v): return "desired properties version \(v)"
        }
    }

    /// `origin` (`file` or `desired`) and `desiredVersion` (null for the file: reported patches merge, so an
    /// earlier version must be cleared), for reports and the saved file.
    var members: [(String, JSONValue)] {
        switch self {
        case .file: return [("origin", .string("file")), ("desiredVersion", .null)]
        case .desired(let v): return [("origin", .string("desired")), ("desiredVersion", .int(v))]
        }
    }
}
