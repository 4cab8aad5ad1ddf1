import EdgeLogCore

/// A container's name as `config.v2.json` beside its log says it, for labels outside the source (metrics).
public enum ContainerNames {
    /// The name of the container whose json-file log is `logPath` (`<dir>/<id>/<id>-json.log`), without the
    /// leading `/`; nil if its `config.v2.json` cannot be read or names none.
    public static func name(logPath: String) -> String? {
        guard let slash = logPath.lastIndex(of: "/") else { return nil }
        guard case .success(let metadata) = ContainerMetadata.load(String(logPath[..<slash]) + "/config.v2.json"),
            !metadata.name.isEmpty
        else { return nil }
        return metadata.name
    }
}
