import EdgeLogCore
import Testing

@Suite struct RecordTemplateTests {
    let template = RecordTemplate(
        host: HostIdentity(computer: "gw1", deviceId: "dev1", iotHub: "hub.azure-devices.net"), source: "docker",
        moduleId: "edgeHub", containerId: "abc", containerImage: "img:1", extra: .object([("labels", .object([("k", .string("v"))]))]))

    func encode(_ message: [UInt8], maxBytes: Int = 1_000_000) -> (String, RecordTemplate.Outcome) {
        var out: [UInt8] = []
        let time = Array("2026-11-27T18:04:31.123Z".utf8)
        let outcome = time.withUnsafeBufferPointer { t in
            message.withUnsafeBufferPointer { m in
                template.encode(time: t, stream: "stderr", level: 3, message: m, maxBytes: maxBytes, to: &out)
            }
        }
        return (String(decoding: out, as: UTF8.self), outcome)
    }

    @Test func columnsInOrder() throws {
        let (json, outcome) = encode(Array("boom \"quoted\"".utf8))
        #expect(outcome.replacements == 0 && !outcome.truncated)
        #expect(
            json
                == #"{"TimeGenerated":"2026-11-27T18:04:31.123Z","Computer":"gw1","DeviceId":"dev1","IoTHub":"hub.azure-devices.net","Source":"docker","ModuleId":"edgeHub","ContainerId":"abc","ContainerImage":"img:1","Stream":"stderr","Level":3,"Message":"boom \"quoted\"","Unit":"","Extra":{"labels":{"k":"v"}}}"#
        )
        _ = try JSONParser.parse(json)
    }

    @Test func oversizeMessageIsCutToFit() throws {
        let message = Array(String(repeating: "é", count: 5000).utf8)
        let (json, outcome) = encode(message, maxBytes: 2000)
        #expect(outcome.truncated)
        #expect(json.utf8.count <= 2000)
        let parsed = try JSONParser.parse(json)
        let kept = parsed["Message"]?.stringValue ?? ""
        // About 1,700 of the 2,000 bytes are left for the message after the other columns.
        #expect(kept.utf8.count > 1600)
        #expect(kept.allSatisfy { $0 == "é" })
    }
}
