/// The whole configuration document: the same shape in the config file and in the module twin's
/// desired properties. Built-in defaults < config file < twin desired properties.
public struct Configuration: Sendable, Equatable {
    /// Where checkpoints, the spool and other state live.
    public var stateDirectory: String = "/var/lib/edgelog"
    public var docker = DockerSettings()
    public var journal = JournalSettings()
    public var records = RecordSettings()
    public var filters = FilterSettings()
    public var redaction = RedactionSettings()
    public var rotation = RotationSettings()
    public var batch = BatchSettings()
    public var spool = SpoolSettings()
    public var sink = SinkSettings()
    public var metrics = MetricsSettings()
    public var twin = TwinSettings()

    public init() {}

    /// Reads a document strictly. Returns the configuration and every problem found; a configuration
    /// with problems must not be used (each faulty key fell back to its default only so the rest could be checked).
    public static func parse(_ document: JSONValue) -> (Configuration, [Diagnostic]) {
        var config = Configuration()
        var reader = ConfigReader(path: "", value: document)
        config.stateDirectory = reader.string("stateDirectory", config.stateDirectory, allowEmpty: false)
        if !config.stateDirectory.hasPrefix("/") && !config.stateDirectory.isEmpty {
            reader.report("stateDirectory", "\"\(config.stateDirectory)\" is a relative path", fix: "give an absolute path")
        }
        func read<Section>(_ key: String, _ make: (inout ConfigReader) -> Section) -> Section {
            var section = reader.section(key)
            let value = make(&section)
            reader.absorb(section)
            return value
        }
        config.docker = read("docker") { DockerSettings(reading: &$0) }
        config.journal = read("journal") { JournalSettings(reading: &$0) }
        config.records = read("records") { RecordSettings(reading: &$0) }
        config.filters = read("filters") { FilterSettings(reading: &$0) }
        config.redaction = read("redaction") { RedactionSettings(reading: &$0) }
        config.rotation = read("rotation") { RotationSettings(reading: &$0) }
        config.batch = read("batch") { BatchSettings(reading: &$0) }
        config.spool = read("spool") { SpoolSettings(reading: &$0) }
        config.sink = read("sink") { SinkSettings(reading: &$0) }
        config.metrics = read("metrics") { MetricsSettings(reading: &$0) }
        config.twin = read("twin") { TwinSettings(reading: &$0) }
        reader.reportUnknownKeys()
        var diagnostics = reader.diagnostics
        if config.spool.maxBytes < config.batch.maxBytes {
            diagnostics.append(
                Diagnostic(
                    path: "spool.maxBytes",
                    problem: "\(config.spool.maxBytes) cannot hold one batch of batch.maxBytes \(config.batch.maxBytes)",
                    fix: "use at least \(config.batch.maxBytes)"))
        }
        return (config, diagnostics)
    }

    /// Parses a JSON text; a syntax error is one diagnostic at the document.
    public static func parse(text: [UInt8]) -> (Configuration, [Diagnostic]) {
        do {
            return parse(try JSONParser.parse(text))
        } catch {
            return (Configuration(), [Diagnostic(path: "(document)", problem: error.description, fix: "fix the JSON syntax")])
        }
    }

    /// The full document, every key with its effective value.
    public var json: JSONValue {
        .object([
            ("stateDirectory", .string(stateDirectory)),
            ("docker", docker.json),
            ("journal", journal.json),
            ("records", records.json),
            ("filters", filters.json),
            ("redaction", redaction.json),
            ("rotation", rotation.json),
            ("batch", batch.json),
            ("spool", spool.json),
            ("sink", sink.json),
            ("metrics", metrics.json),
            ("twin", twin.json),
        ])
    }

    /// Where the file sink writes when `sink.directory` is empty.
    public var sinkDirectory: String {
        sink.directory.isEmpty ? stateDirectory + "/outbox" : sink.directory
    }
}
