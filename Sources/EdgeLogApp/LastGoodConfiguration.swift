import EdgeLogCore

/// The last configuration that ran well, kept in `<stateDirectory>/last-good-config.json` (mode 0600): the
/// whole document with where it came from and when it was saved. "Ran well" means every part of it was built
/// (sink, sources, rotation check, metrics listener) and its pipeline started. If the configuration EdgeLog is
/// started with cannot be applied, it runs this one instead (and keeps retrying the newer one), so a bad
/// deployment or desired-properties patch never leaves a device without log shipping or in a crash loop.
/// The document holds no secrets: the configuration refuses them (they come from files and the environment).
public enum LastGoodConfiguration {
    public static let fileName = "last-good-config.json"
    static let formatVersion: Int64 = 1

    public struct Saved: Sendable, Equatable {
        public var configuration: Configuration
        public var origin: ConfigurationOrigin
        /// When it was saved (Unix milliseconds).
        public var savedMillis: Int64

        public init(configuration: Configuration, origin: ConfigurationOrigin, savedMillis: Int64) {
            self.configuration = configuration
            self.origin = origin
            self.savedMillis = savedMillis
        }
    }

    /// The file cannot be used: why.
    public struct Unusable: Error, CustomStringConvertible {
        public let description: String
    }

    public static func path(stateDirectory: String) -> String { stateDirectory + "/" + fileName }

    public static func save(_ saved: Saved, stateDirectory: String) throws {
        let document = JSONValue.object(
            [("version", .int(formatVersion)), ("savedAtMillis", .int(saved.savedMillis))] + saved.origin.members
                + [("configuration", saved.configuration.json)])
        try FileSystem.makeDirectories(stateDirectory)
        try FileSystem.writeAtomically(
            Array(document.serialized(pretty: true).utf8), to: path(stateDirectory: stateDirectory), mode: 0o600)
    }

    /// The saved configuration; nil if none was saved. Throws `Unusable` for a damaged file, another format, or a
    /// document that is not a valid configuration for this state directory (it is then ignored, never run).
    public static func load(stateDirectory: String) throws -> Saved? {
        let file = path(stateDirectory: stateDirectory)
        let bytes: [UInt8]
        do {
            guard let read = try FileSystem.read(file, limit: 4 << 20) else { return nil }
            bytes = read
        } catch {
            throw Unusable(description: "\(file) cannot be read: \(error)")
        }
        guard let document = try? JSONParser.parse(bytes), case .object = document else {
            throw Unusable(description: "\(file) is not a JSON object")
        }
        guard document["version"]?.intValue == formatVersion else {
            throw Unusable(description: "\(file) has an unknown format version")
        }
        guard let saved = document["savedAtMillis"]?.intValue, saved >= 0 else {
            throw Unusable(description: "\(file): savedAtMillis is missing or negative")
        }
        let origin: ConfigurationOrigin
        switch document["origin"]?.stringValue {
        case "file": origin = .file
        case "desired":
            guard let v = document["desiredVersion"]?.intValue, v >= 0 else {
                throw Unusable(description: "\(file): desiredVersion is missing or negative")
            }
            origin = .desired(version: v)
        default: throw Unusable(description: "\(file): origin is neither \"file\" nor \"desired\"")
        }
        guard let body = document["configuration"] else {
            throw Unusable(description: "\(file) holds no configuration")
        }
        let (configuration, problems) = Configuration.parse(body)
        guard problems.isEmpty else {
            throw Unusable(
                description: "\(file) is not a valid configuration: \(problems.prefix(3).map(\.description).joined(separator: "; "))")
        }
        guard configuration.stateDirectory == stateDirectory else {
            throw Unusable(description: "\(file) names another state directory (\(configuration.stateDirectory))")
        }
        return Saved(configuration: configuration, origin: origin, savedMillis: saved)
    }
}
