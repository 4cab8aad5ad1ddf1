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

    /// The desired properties spell out the whole configuration (an admin sees every key there is in the portal),
    /// with the journal of the IoT Edge daemons and docker, and rotation under the production checklist's policy.
    @Test(arguments: ["deployment.template.json", "deployment.constrained.template.json"])
    func desiredPropertiesAreTheWholeConfigurationWithJournalAndRotationOn(_ name: String) throws {
        let bytes = try FileSystem.read(Self.root.appendingPathComponent(name).path)
        let template = try JSONParser.parse(try #require(bytes))
        let desired = try #require(template["modulesContent"]?["edgelog"]?["properties.desired"])
        var missing: [String] = []
        func walk(_ defaults: JSONValue, _ given: JSONValue?, _ path: String) {
            guard case .object(let members) = defaults else { return }
            for (key, value) in members {
                let here = path.isEmpty ? key : path + "." + key
                guard let child = given?[key] else {
                    missing.append(here)
                    continue
                }
                walk(value, child, here)
            }
        }
        walk(Configuration().json, desired, "")
        #expect(missing.isEmpty, "keys missing from \(name): \(missing)")
        let (configuration, problems) = Configuration.parse(desired)
        #expect(problems.isEmpty, "\(problems)")
        #expect(configuration.journal.enabled)
        for unit in ["aziot-edged", "aziot-identityd", "aziot-keyd", "aziot-certd", "aziot-tpmd", "docker"] {
            #expect(configuration.journal.units.contains(unit + ".service"), "\(unit)")
        }
        let rotation = configuration.rotation
        #expect(rotation.enabled)
        #expect(rotation.policy.copyTruncate && rotation.policy.compress && rotation.policy.delayCompress)
        #expect(rotation.policy.notIfEmpty && rotation.policy.missingOk)
        #expect(rotation.policy.rotate == 7 && rotation.policy.maxAgeDays == 7)
    }
}
