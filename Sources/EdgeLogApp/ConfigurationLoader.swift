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
        let (config, diagnostics) = parse(path: path)
        guard diagnostics.isEmpty else { throw Invalid(path: path, diagnostics: diagnostics) }
        return config
    }

    /// For `run`: the file's configuration; if the file is invalid, the last configuration that ran well
    /// (`LastGoodConfiguration`, from the state directory the file names, or the default one) with the file's
    /// problems, so a broken file at start does not become a crash loop. Throws `Invalid` when the file is
    /// invalid and no usable last good configuration is saved.
    public static func loadForRun(path: String?) throws -> (configuration: Configuration, fileProblems: [Diagnostic]) {
        guard let path else { return (Configuration(), []) }
        let (config, diagnostics) = parse(path: path)
        guard !diagnostics.isEmpty else { return (config, []) }
        // What could be read of the file still names the state directory, unless that key was the problem.
        let stateDirectory =
            diagnostics.contains { $0.path == "stateDirectory" } ? Configuration().stateDirectory : config.stateDirectory
        guard let saved = try? LastGoodConfiguration.load(stateDirectory: stateDirectory) else {
            throw Invalid(path: path, diagnostics: diagnostics)
        }
        return (saved.configuration, diagnostics.map { Diagnostic(path: $0.path, problem: "\(path): \($0.problem)", fix: $0.fix) })
    }

    private static func parse(path: String) -> (Configuration, [Diagnostic]) {
        let bytes: [UInt8]?
        do {
            bytes = try FileSystem.read(path, limit: 4 << 20)
        } catch {
            return (Configuration(), [Diagnostic(path: "(file)", problem: "cannot be read: \(error)", fix: "make it readable")])
        }
        guard let bytes else {
            return (Configuration(), [Diagnostic(path: "(file)", problem: "does not exist", fix: "give an existing file")])
        }
        return Configuration.parse(text: bytes)
    }
}
