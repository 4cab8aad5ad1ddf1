import EdgeLogCore
import EdgeLogTestKit
import Foundation
import Logging
import Testing

@testable import EdgeLogDocker

@Suite struct ContainerMetadataTests {
    @Test func ownContainerIdComesFromMountinfo() throws {
        let dir = TemporaryDirectory()
        let id = String(repeating: "ab12", count: 16)
        let text = """
            612 588 0:52 / / rw,relatime master:301 - overlay overlay rw
            640 612 254:0 /var/lib/docker/containers/\(id)/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw
            """
        try text.write(toFile: dir.file("mountinfo"), atomically: true, encoding: .utf8)
        #expect(SelfContainer.id(mountinfo: dir.file("mountinfo")) == id)
        try "612 588 0:52 / / rw - overlay overlay rw\n".write(toFile: dir.file("host"), atomically: true, encoding: .utf8)
        #expect(SelfContainer.id(mountinfo: dir.file("host")) == nil)
    }

    @Test func ownModuleIsExcludedByName() async throws {
        let dir = TemporaryDirectory()
        let root = try dir.makeDirectory("containers")
        try DockerContainerFixture(root: root, name: "edgelog").log(["mine"])
        try DockerContainerFixture(root: root, name: "other").log(["theirs"])
        var settings = DockerSettings()
        settings.containersDirectory = root
        var configuration = Configuration()
        configuration.stateDirectory = dir.path + "/state"
        let sink = CollectingSink(decompress: { $0 })
        let pipeline = try Pipeline(
            configuration: configuration, host: HostIdentity(computer: "h"),
            sources: [DockerSource(settings: settings, environment: ["IOTEDGE_MODULEID": "edgelog"])], sink: sink,
            compressor: DockerSourceTests.Identity(), logger: Logger(label: "t"))
        #expect(try await pipeline.run(mode: .once))
        #expect(try sink.records.map { try JSONParser.parse($0)["Message"]!.stringValue! } == ["theirs"])
    }

    @Test func metadataIsReadAgainWhenDockerRewritesIt() throws {
        let dir = TemporaryDirectory()
        let fixture = try DockerContainerFixture(root: dir.path, name: "sensor", image: "sensor:1.0")
        let tailer = ContainerTailer(
            id: fixture.id, directory: fixture.directory, settings: DockerSettings(), host: HostIdentity(computer: "h"),
            maxRecordBytes: 100_000, checkpoint: nil, startAtEnd: false, ledger: PendingLedger(limit: 1 << 20),
            counters: Counters(), logger: Logger(label: "t"))
        #expect(tailer.metadata?.image == "sensor:1.0")
        #expect(!tailer.reloadMetadata())
        // A restart with a new image rewrites config.v2.json.
        _ = try DockerContainerFixture(root: dir.path, name: "sensor", id: fixture.id, image: "sensor:2.0")
        #expect(tailer.reloadMetadata())
        #expect(tailer.metadata?.image == "sensor:2.0")
    }
}
