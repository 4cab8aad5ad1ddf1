import EdgeLogCore
import Testing

@Suite struct TwinSettingsTests {
    @Test func theReportIntervalIsReadAndChecked() throws {
        let (defaults, none) = Configuration.parse(try JSONParser.parse("{}"))
        #expect(none.isEmpty)
        #expect(defaults.twin.reportIntervalSeconds == 60)
        #expect(defaults.json["twin"]?["reportIntervalSeconds"] == .double(60))

        let (set, ok) = Configuration.parse(try JSONParser.parse(#"{"twin":{"reportIntervalSeconds":300}}"#))
        #expect(ok.isEmpty)
        #expect(set.twin.reportIntervalSeconds == 300)

        let (_, tooOften) = Configuration.parse(try JSONParser.parse(#"{"twin":{"reportIntervalSeconds":0.5}}"#))
        #expect(tooOften.map(\.path) == ["twin.reportIntervalSeconds"])
        let (_, unknown) = Configuration.parse(try JSONParser.parse(#"{"twin":{"interval":5}}"#))
        #expect(unknown.map(\.path) == ["twin.interval"])
    }
}
