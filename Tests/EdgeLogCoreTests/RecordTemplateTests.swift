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

    func encode(_ template: RecordTemplate, extra: String? = nil, level: Int = 6) -> String {
        var out: [UInt8] = []
        let time = Array("2026-11-27T18:04:31.123Z".utf8)
        let message = Array("hello".utf8)
        let extraBytes = extra.map { Array($0.utf8) }
        time.withUnsafeBufferPointer { t in
            message.withUnsafeBufferPointer { m in
                if let extraBytes {
                    extraBytes.withUnsafeBufferPointer { e in
                        _ = template.encode(time: t, stream: "stdout", level: level, message: m, extra: e, maxBytes: 4096, to: &out)
                    }
                } else {
                    _ = template.encode(time: t, stream: "stdout", level: level, message: m, maxBytes: 4096, to: &out)
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let id = String(repeating: "0123456789abcdef", count: 4)

    @Test func theDefaultRecordsSectionLeavesOutEmptyValuesAndShortensTheId() throws {
        let lean = RecordShape(RecordSettings())
        let template = RecordTemplate(
            host: HostIdentity(computer: "gw1"), source: "docker", moduleId: "edgeHub", containerId: Self.id,
            containerImage: "mcr.microsoft.com/azureiotedge-hub:1.5", shape: lean)
        #expect(
            encode(template)
                == #"{"TimeGenerated":"2026-11-27T18:04:31.123Z","Computer":"gw1","Source":"docker","ModuleId":"edgeHub","ContainerId":"0123456789ab","ContainerImage":"mcr.microsoft.com/azureiotedge-hub:1.5","Stream":"stdout","Level":6,"Message":"hello"}"#
        )
        // A record's own Extra is written unless it is empty.
        #expect(encode(template, extra: "{}").hasSuffix(#""Message":"hello"}"#))
        #expect(encode(template, extra: #"{"attrs":{"tag":"x"}}"#).hasSuffix(#""Message":"hello","Extra":{"attrs":{"tag":"x"}}}"#))
        for text in [encode(template), encode(template, extra: #"{"a":1}"#)] { _ = try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func onlyTheChosenColumnsAreWritten() throws {
        var settings = RecordSettings()
        settings.columns = ["Message", "ModuleId", "TimeGenerated", "Extra"]
        settings.omitEmpty = false
        settings.containerId = "full"
        let template = RecordTemplate(
            host: HostIdentity(computer: "gw1", deviceId: "dev1"), source: "journal", moduleId: "kernel",
            unit: "", extra: .object([]), shape: RecordShape(settings))
        #expect(
            encode(template)
                == #"{"TimeGenerated":"2026-11-27T18:04:31.123Z","ModuleId":"kernel","Message":"hello","Extra":{}}"#)
        // TimeGenerated and Message are written whatever the list says.
        let bare = RecordTemplate(
            host: HostIdentity(computer: "gw1"), source: "docker", moduleId: "m",
            shape: RecordShape(columns: [.level], omitEmpty: true, shortContainerId: true))
        #expect(encode(bare, level: 3) == #"{"TimeGenerated":"2026-11-27T18:04:31.123Z","Level":3,"Message":"hello"}"#)
        // Every column, empty ones too, and the full id: the template's default, the records as before.
        let every = RecordTemplate(
            host: HostIdentity(computer: "gw1"), source: "docker", moduleId: "m", containerId: Self.id)
        #expect(
            encode(every)
                == #"{"TimeGenerated":"2026-11-27T18:04:31.123Z","Computer":"gw1","DeviceId":"","IoTHub":"","Source":"docker","ModuleId":"m","ContainerId":"\#(Self.id)","ContainerImage":"","Stream":"stdout","Level":6,"Message":"hello","Unit":"","Extra":{}}"#
        )
    }

    @Test func aCutMessageStillFitsWithTheShape() throws {
        let template = RecordTemplate(
            host: HostIdentity(computer: "gw1"), source: "docker", moduleId: "m", shape: RecordShape(RecordSettings()))
        var out: [UInt8] = []
        let time = Array("2026-11-27T18:04:31.123Z".utf8)
        let message = Array(String(repeating: "a", count: 5000).utf8)
        let outcome = time.withUnsafeBufferPointer { t in
            message.withUnsafeBufferPointer { m in
                template.encode(time: t, stream: "stdout", level: 6, message: m, maxBytes: 1000, to: &out)
            }
        }
        #expect(outcome.truncated && out.count <= 1000 && out.count > 900)
        _ = try JSONParser.parse(out)
    }
}
