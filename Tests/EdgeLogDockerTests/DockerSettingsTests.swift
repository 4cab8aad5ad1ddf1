import EdgeLogCore
import Testing

/// The docker section's keys for rejoining messages: defaults, ranges, and the limits agreeing with each other.
@Suite struct DockerSettingsTests {
    func parse(_ text: String) -> (Configuration, [String]) {
        let (config, diagnostics) = Configuration.parse(text: Array(text.utf8))
        return (config, diagnostics.map(\.description))
    }

    @Test func defaultsAreConsistentWithTheLargestBatch() {
        let docker = DockerSettings()
        #expect(docker.partialFlushSeconds == 5)
        #expect(docker.maxPendingBytes == 8 << 20)
        // A message of maxMessageBytes fits a default batch with the record's other columns.
        #expect(docker.maxMessageBytes + DockerSettings.recordRoomBytes <= BatchSettings().maxBytes)
        #expect(docker.maxPendingBytes >= docker.maxMessageBytes)
        let (config, problems) = parse(#"{"docker":{"partialFlushSeconds":0.5,"maxPendingBytes":"16MiB"}}"#)
        #expect(problems.isEmpty)
        #expect(config.docker.partialFlushSeconds == 0.5)
        #expect(config.docker.maxPendingBytes == 16 << 20)
    }

    @Test func aMessageCapNoBatchCanHoldIsRefused() {
        let (_, problems) = parse(#"{"docker":{"maxMessageBytes":"1MiB"}}"#)
        #expect(
            problems == [
                "docker.maxMessageBytes: 1048576 is over the largest message a batch of at most 1000000 bytes holds with the record's other columns; use at most 995904"
            ])
    }

    @Test func rejoinMemoryMustHoldOneMessage() {
        let (_, problems) = parse(#"{"docker":{"maxMessageBytes":"512KiB","maxPendingBytes":"256KiB"}}"#)
        #expect(problems == ["docker.maxPendingBytes: 262144 cannot hold one message of docker.maxMessageBytes 524288; use at least 524288"])
        let (_, tooQuick) = parse(#"{"docker":{"partialFlushSeconds":0}}"#)
        #expect(tooQuick.count == 1 && tooQuick[0].hasPrefix("docker.partialFlushSeconds: 0"))
    }
}
