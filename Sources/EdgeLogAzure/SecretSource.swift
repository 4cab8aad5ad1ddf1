import EdgeLogCore

/// Where the Logs Ingestion sink's client secret comes from: the file `sink.clientSecretFile` names (a mounted
/// secret; one trailing line break is ignored), else the environment variable `EDGELOG_CLIENT_SECRET`.
/// Never from the configuration document, which a module twin shows to anyone with access to the hub.
public enum SecretSource {
    /// The variable read when `sink.clientSecretFile` is empty.
    public static let environmentVariable = "EDGELOG_CLIENT_SECRET"

    /// The client secret from `file` (if not empty) or the environment; a `SinkSetupError` says what is missing.
    public static func clientSecret(file: String, environment: [String: String]) throws -> Secret {
        if !file.isEmpty {
            let bytes: [UInt8]?
            do {
                bytes = try FileSystem.read(file, limit: 64 << 10)
            } catch {
                throw SinkSetupError(
                    "sink.clientSecretFile: \(file) cannot be read (\(error)); make it readable by EdgeLog")
            }
            guard let bytes else {
                throw SinkSetupError(
                    "sink.clientSecretFile: \(file) does not exist; mount the secret there or fix the path")
            }
            var text = String(decoding: bytes, as: UTF8.self)
            while let last = text.last, last == "\n" || last == "\r" { text.removeLast() }
            guard !text.isEmpty else {
                throw SinkSetupError("sink.clientSecretFile: \(file) is empty; put the client secret in it")
            }
            return Secret(text)
        }
        guard let value = environment[environmentVariable], !value.isEmpty else {
            throw SinkSetupError(
                "sink: no client secret; set sink.clientSecretFile to a file holding it, or the environment variable \(environmentVariable)"
            )
        }
        return Secret(value)
    }

    /// `sink.headersFromEnvironment`: header name → value of the named variable.
    public static func headers(_ names: [String: String], environment: [String: String]) throws -> [(String, Secret)] {
        var result: [(String, Secret)] = []
        for (header, variable) in names.sorted(by: { $0.key < $1.key }) {
            guard let value = environment[variable], !value.isEmpty else {
                throw SinkSetupError(
                    "sink.headersFromEnvironment.\(header): the environment variable \(variable) is not set; set it in the module's environment"
                )
            }
            result.append((header, Secret(value)))
        }
        return result
    }
}
