import EdgeLogCore
import Testing

/// `deploy/azure/edgelog.json` must create exactly the columns EdgeLog writes, wire the stream to the table
/// with a pass-through transformation, grant Monitoring Metrics Publisher, and embed the workbook file as it is.
@Suite struct DeployTemplateTests {
    static let root: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/EdgeLogAzureTests/<file>
        return parts.joined(separator: "/")
    }()

    func load(_ path: String) throws -> JSONValue {
        try JSONParser.parse(try #require(try FileSystem.read(Self.root + "/" + path)))
    }

    /// Every column a record can carry (`records.columns` chooses among them, and empty values are left out, so
    /// the table declares them all), with its type.
    static let columns = RecordColumn.allCases.map { "\($0.rawValue) \($0.tableType)" }

    @Test func theColumnsAreTheOnesEdgeLogWrites() {
        #expect(Self.columns == [
            "TimeGenerated datetime", "Computer string", "DeviceId string", "IoTHub string", "Source string",
            "ModuleId string", "ContainerId string", "ContainerImage string", "Stream string", "Level int",
            "Message string", "Unit string", "Extra dynamic",
        ])
        // A record written with every column has exactly these keys, in this order.
        let template = RecordTemplate(host: HostIdentity(computer: "c"), source: "docker", moduleId: "m")
        var out: [UInt8] = []
        let time = Array("2026-11-27T18:04:31Z".utf8)
        time.withUnsafeBufferPointer { t in
            Array("x".utf8).withUnsafeBufferPointer { m in
                _ = template.encode(time: t, stream: "stdout", level: 6, message: m, maxBytes: 4096, to: &out)
            }
        }
        let keys = (try? JSONParser.parse(out))?.objectValue?.map(\.0) ?? []
        #expect(keys == RecordColumn.allCases.map(\.rawValue))
    }

    func resource(_ template: JSONValue, _ type: String) throws -> JSONValue {
        try #require(template["resources"]?.arrayValue?.first { $0["type"]?.stringValue == type })
    }

    func columns(_ list: JSONValue?) -> [String] {
        (list?.arrayValue ?? []).map { ($0["name"]?.stringValue ?? "") + " " + ($0["type"]?.stringValue ?? "") }
    }

    @Test func tableRuleRoleAndOutputs() throws {
        let template = try load("deploy/azure/edgelog.json")
        let table = try resource(template, "Microsoft.OperationalInsights/workspaces/tables")
        #expect(table["properties"]?["schema"]?["name"]?.stringValue == "[variables('tableName')]")
        #expect(template["variables"]?["tableName"]?.stringValue == "EdgeLogs_CL")
        #expect(columns(table["properties"]?["schema"]?["columns"]) == Self.columns)

        let rule = try resource(template, "Microsoft.Insights/dataCollectionRules")
        #expect(rule["kind"]?.stringValue == "Direct")
        let stream = rule["properties"]?["streamDeclarations"]?["Custom-EdgeLogs"]?["columns"]
        #expect(columns(stream) == Self.columns)
        let flow = rule["properties"]?["dataFlows"]?.arrayValue?.first
        #expect(flow?["transformKql"]?.stringValue == "source")
        #expect(flow?["outputStream"]?.stringValue == "[format('Custom-{0}', variables('tableName'))]")
        #expect(template["variables"]?["streamName"]?.stringValue == SinkSettings().streamName)

        let role = try resource(template, "Microsoft.Authorization/roleAssignments")
        #expect(
            template["variables"]?["monitoringMetricsPublisher"]?.stringValue == "3913510d-42f4-4e42-8a64-420c390055eb")
        #expect(role["properties"]?["principalType"]?.stringValue == "ServicePrincipal")
        #expect(role["scope"]?.stringValue?.contains("Microsoft.Insights/dataCollectionRules/") == true)

        #expect(template["outputs"]?["endpoint"]?["value"]?.stringValue?.contains("endpoints.logsIngestion") == true)
        #expect(template["outputs"]?["dcrImmutableId"]?["value"]?.stringValue?.contains("immutableId") == true)
    }

    @Test func theWorkbookIsEmbeddedAsItIs() throws {
        let template = try load("deploy/azure/edgelog.json")
        let workbook = try resource(template, "Microsoft.Insights/workbooks")
        let embedded = try #require(workbook["properties"]?["serializedData"]?.stringValue)
        let file = try #require(try FileSystem.read(Self.root + "/deploy/azure/edgelog-workbook.json"))
        #expect(embedded == String(decoding: file, as: UTF8.self), "run deploy/azure/embed-workbook.py")
        let items = try JSONParser.parse(file)["items"]?.arrayValue ?? []
        let titles = items.compactMap { $0["content"]?["title"]?.stringValue }
        #expect(titles.count == 4)
        let failures = items.first { $0["name"]?.stringValue == "failures" }?["content"]?["query"]?.stringValue ?? ""
        #expect(failures.contains("failed batch"))
    }
}
