import EdgeLogCore

/// Reads the configuration file. Defaults < file (< twin desired properties, later).
public enum ConfigurationLoader {
    public struct Invalid: Error, CustomStringConvertible {
        public let path: String
        public let diagnostics: [Diagnostic]
        public var description: String {
            "\(path) is not a valid configuration:\n" + diagnostics.map { "  - \($0)" }.joined(separator: "\n")
        }
    }

    /// nil path: the built-in defaults.
    public static func load(path: String?) throws -> Configuration {
        guard let path else { return Configuration() }
        guard let bytes = try FileSystem.read(path, limit: 4 << 20) else {
            throw Invalid(
                path: path, diagnostics: [Diagnostic(path: "(file)", problem: "does not exist", fix: "give an existing file")])
        }
        let (config, diagnostics) = Configuration.parse(text: bytes)
        guard diagnostics.isEmpty else { throw Invalid(path: path, diagnostics: diagnostics) }
        return config
    }
}
