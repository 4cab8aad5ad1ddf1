import EdgeLogCore
import Foundation
import Testing

/// Both deployment templates: EdgeLog's desired properties are a valid configuration, and UpstreamProtocol
/// is the same for edgeAgent, edgeHub and EdgeLog.
@Suite struct DeploymentTemplatesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(arguments: ["deployment.template.json", "deployment.constrained.template.json"])
    func desiredPropertiesAndProtocol(_ name: String) throws {
        let bytes = try #require(try FileSystem.read(Self.root.appendingPathComponent(name).path))
        let doc = try JSONParser.parse(bytes)
        let desired = try #require(doc["modulesContent"]?["edgelog"]?["properties.desired"])
        let (configuration, problems) = Configuration.parse(desired)
        #expect(problems.isEmpty, "\(problems)")
        // Scraped by the metrics-collector module at http://edgelog:9600/metrics, like edgeHub and edgeAgent.
        #expect(configuration.metrics.enabled)
        #expect(configuration.metrics.host == "0.0.0.0")
        #expect(configuration.metrics.port == 9600)
        #expect(configuration.metrics.path == "/metrics")
        let agent = try #require(doc["modulesContent"]?["$edgeAgent"]?["properties.desired"])
        let protocols = [
            agent["systemModules"]?["edgeAgent"]?["env"]?["UpstreamProtocol"]?["value"],
            agent["systemModules"]?["edgeHub"]?["env"]?["UpstreamProtocol"]?["value"],
            agent["modules"]?["edgelog"]?["env"]?["UpstreamProtocol"]?["value"],
        ]
        #expect(protocols.allSatisfy { $0 == .string("Mqtt") })
        if name.contains("constrained") {
            #expect(configuration.batch.maxBytes < BatchSettings().maxBytes)
            #expect(configuration.spool.maxBytes < SpoolSettings().maxBytes)
            let memory = agent["modules"]?["edgelog"]?["settings"]?["createOptions"]?["HostConfig"]?["Memory"]?.intValue ?? 0
            #expect(memory > 0 && memory < 128 << 20)
        }
    }
}
