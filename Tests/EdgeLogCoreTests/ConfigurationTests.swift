import EdgeLogCore
import Testing

@Suite struct ConfigurationTests {
    func parse(_ text: String) -> (Configuration, [String]) {
        let (config, diagnostics) = Configuration.parse(text: Array(text.utf8))
        return (config, diagnostics.map(\.description))
    }

    @Test func emptyDocumentGivesDefaults() {
        let (config, problems) = parse("{}")
        #expect(problems.isEmpty)
        #expect(config == Configuration())
        #expect(config.batch.maxBytes == 1_000_000)
        #expect(config.batch.flushIntervalSeconds == 5)
        #expect(config.batch.compressionLevel == 6)
        #expect(config.spool.maxBytes == 256 << 20)
        #expect(config.spool.timeToLiveSeconds == 7200)
        #expect(config.docker.containersDirectory == "/var/lib/docker/containers")
        #expect(config.sink.type == .file)
    }

    @Test func defaultsDocumentRoundTrips() throws {
        let text = Configuration().json.serialized(pretty: true)
        let (config, problems) = parse(text)
        #expect(problems.isEmpty)
        #expect(config == Configuration())
    }

    @Test func batchLimitNamesTheIngestionApi() {
        let (_, problems) = parse(#"{"batch":{"maxBytes":5000000}}"#)
        #expect(problems == [
            "batch.maxBytes: 5000000 is over the 1000000 limit of the Logs Ingestion API; use at most 1000000"
        ])
    }

    @Test func everyProblemIsListedWithItsPath() {
        let (_, problems) = parse(
            #"{"batch":{"compressionLevel":12,"flushIntervalSeconds":"soon"},"docker":{"readFrom":"middle","include":[1]},"spool":{"maxBytes":"lots"},"colour":"blue"}"#
        )
        #expect(problems.count == 6)
        #expect(problems.contains("batch.compressionLevel: 12 is over the maximum of 9; use at most 9"))
        #expect(problems.contains { $0.hasPrefix("batch.flushIntervalSeconds: is a string;") })
        #expect(problems.contains { $0.hasPrefix("docker.readFrom: \"middle\" is not a known value; use one of \"beginning\", \"end\"") })
        #expect(problems.contains("docker.include[0]: is a number; give a string"))
        #expect(problems.contains { $0.hasPrefix("spool.maxBytes: \"lots\" is not a size;") })
        #expect(problems.contains { $0.hasPrefix("colour: is not a known key; remove it or use one of:") })
    }

    @Test func unknownNestedKeyIsAnError() {
        let (_, problems) = parse(#"{"sink":{"type":"file","folder":"/x"}}"#)
        #expect(problems.count == 1)
        #expect(problems[0].hasPrefix("sink.folder: is not a known key"))
    }

    @Test func sizesAcceptUnits() {
        let (config, problems) = parse(#"{"spool":{"maxBytes":"10MB"},"docker":{"maxMessageBytes":"256KiB"},"batch":{"maxBytes":"512k"}}"#)
        #expect(problems.isEmpty)
        #expect(config.spool.maxBytes == 10_000_000)
        #expect(config.docker.maxMessageBytes == 256 * 1024)
        #expect(config.batch.maxBytes == 512 * 1024)
        #expect(ByteSize.parse("256MiB") == 256 << 20)
        #expect(ByteSize.parse("1.5GB") == 1_500_000_000)
        #expect(ByteSize.parse("12 parsecs") == nil)
    }

    @Test func onlyEnabledFalseIsAlwaysValid() {
        for section in ["docker", "journal", "rotation", "metrics"] {
            let (config, problems) = parse("{\"\(section)\":{\"enabled\":false}}")
            #expect(problems.isEmpty, "\(section)")
            if section == "docker" { #expect(config.docker.enabled == false) }
        }
    }

    @Test func syntaxErrorIsOneDiagnostic() {
        let (_, problems) = parse(#"{"batch": {"maxBytes": }"#)
        #expect(problems.count == 1)
        #expect(problems[0].hasPrefix("(document): invalid JSON at byte"))
    }

    @Test func wrongSectionTypeIsReported() {
        let (_, problems) = parse(#"{"docker": true, "stateDirectory": "relative/dir"}"#)
        #expect(problems.contains("docker: is a boolean; give an object"))
        #expect(problems.contains { $0.hasPrefix("stateDirectory: \"relative/dir\" is a relative path") })
    }

    @Test func spoolMustHoldOneBatch() {
        let (_, problems) = parse(#"{"spool":{"maxBytes":100000},"batch":{"maxBytes":200000}}"#)
        #expect(problems == ["spool.maxBytes: 100000 cannot hold one batch of batch.maxBytes 200000; use at least 200000"])
    }

    @Test func nullRestoresTheDefault() {
        let base = try! JSONParser.parse(#"{"batch":{"maxBytes":50000,"compressionLevel":1}}"#)
        let patched = base.merging(patch: try! JSONParser.parse(#"{"batch":{"maxBytes":null}}"#))
        let (config, problems) = Configuration.parse(patched)
        #expect(problems.isEmpty)
        #expect(config.batch.maxBytes == 1_000_000)
        #expect(config.batch.compressionLevel == 1)
    }
}
