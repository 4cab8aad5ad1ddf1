import EdgeLogCore
import Foundation
import Testing

/// The deployment templates ship EdgeLog's desired properties: they must be valid configurations.
@Suite struct DeploymentTemplateTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(arguments: ["deployment.template.json"])
    func desiredPropertiesAreAValidConfiguration(_ name: String) throws {
        let bytes = try FileSystem.read(Self.root.appendingPathComponent(name).path)
        let template = try JSONParser.parse(try #require(bytes))
        let modules = template["modulesContent"]
        let desired = try #require(modules?["edgelog"]?["properties.desired"])
        let (configuration, problems) = Configuration.parse(desired)
        #expect(problems.isEmpty, "\(problems)")
        #expect(configuration.stateDirectory == "/var/lib/edgelog")
        // The module, its image placeholder and the binds the sources need.
        let module = try #require(modules?["$edgeAgent"]?["properties.desired"]?["modules"]?["edgelog"])
        #expect(module["settings"]?["image"]?.stringValue == "${MODULES.edgelog}")
        let binds = module["settings"]?["createOptions"]?["HostConfig"]?["Binds"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(binds.contains("/var/lib/docker/containers:/var/lib/docker/containers"))
        #expect(binds.contains("/var/log/journal:/var/log/journal:ro"))
        #expect(binds.contains { $0.hasSuffix(":\(configuration.stateDirectory)") })
        #expect(module["settings"]?["createOptions"]?["HostConfig"]?["LogConfig"]?["Config"]?["max-size"] != nil)
    }
}
