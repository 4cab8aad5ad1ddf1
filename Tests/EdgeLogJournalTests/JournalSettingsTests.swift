import EdgeLogCore
import Testing

/// The `journal` configuration section: defaults, accepted forms, and one clear error per bad key.
@Suite struct JournalSettingsTests {
    func parse(_ journal: String) throws -> (JournalSettings, [String]) {
        let (config, diagnostics) = Configuration.parse(text: Array("{\"journal\":\(journal)}".utf8))
        return (config.journal, diagnostics.map(\.description))
    }

    @Test func defaults() throws {
        let (s, errors) = try parse("{}")
        #expect(errors.isEmpty)
        #expect(s == JournalSettings())
        #expect(
            s.json.serialized()
                == "{\"enabled\":false,\"directory\":\"/var/log/journal\",\"files\":[],\"units\":[],\"identifiers\":[],\"maxPriority\":6,\"readFrom\":\"end\",\"extraFields\":[\"_PID\",\"_HOSTNAME\",\"_BOOT_ID\",\"_TRANSPORT\",\"CONTAINER_NAME\",\"CONTAINER_ID\"],\"maxFieldBytes\":65536,\"pollIntervalSeconds\":1}"
        )
    }

    @Test func everyKeyIsRead() throws {
        let (s, errors) = try parse(
            """
            {"enabled":true,"directory":"/run/log/journal","files":["/x/system.journal"],"units":["aziot-edged"],
             "identifiers":["dockerd"],"maxPriority":"warning","readFrom":"beginning","extraFields":["*","!_CAP_*"],
             "maxFieldBytes":"16KiB","pollIntervalSeconds":0.5}
            """)
        #expect(errors.isEmpty)
        #expect(s.enabled)
        #expect(s.directory == "/run/log/journal")
        #expect(s.files == ["/x/system.journal"])
        #expect(s.units == ["aziot-edged"])
        #expect(s.identifiers == ["dockerd"])
        #expect(s.maxPriority == 4)
        #expect(s.readFrom == "beginning")
        #expect(s.extraFields == ["*", "!_CAP_*"])
        #expect(s.maxFieldBytes == 16384)
        #expect(s.pollIntervalSeconds == 0.5)
    }

    @Test func badValuesAreReportedWithTheirKeyPath() throws {
        let (s, errors) = try parse(
            """
            {"maxPriority":9,"directory":"var/log/journal","units":["aziot-*",""],"identifiers":[3],
             "readFrom":"middle","extraFields":["_pid","!"],"maxFieldBytes":10,"files":["rel.journal"],"colour":1}
            """)
        #expect(errors.contains("journal.maxPriority: 9 is over the maximum of 7; use at most 7"))
        #expect(errors.contains("journal.directory: \"var/log/journal\" is a relative path; give an absolute path"))
        #expect(errors.contains("journal.files[0]: \"rel.journal\" is a relative path; give an absolute path"))
        #expect(errors.contains("journal.units[0]: \"aziot-*\" is a pattern; patterns are not supported here; list each unit name in full"))
        #expect(errors.contains("journal.units[1]: is empty; give a unit name"))
        #expect(errors.contains("journal.identifiers[0]: is a number; give a string"))
        #expect(errors.contains("journal.readFrom: \"middle\" is not a known value; use one of \"beginning\", \"end\""))
        #expect(errors.contains { $0.hasPrefix("journal.extraFields[0]: \"_pid\" is not a journal field name or pattern;") })
        #expect(errors.contains { $0.hasPrefix("journal.extraFields[1]: \"!\" is not a journal field name or pattern;") })
        #expect(errors.contains { $0.hasPrefix("journal.maxFieldBytes: 10 is under the minimum") })
        #expect(errors.contains { $0.hasPrefix("journal.colour: is not a known key") })
        #expect(errors.count == 11)
        #expect(s.maxPriority == 6)
    }

    @Test func priorityNames() throws {
        #expect(try parse("{\"maxPriority\":\"err\"}").0.maxPriority == 3)
        #expect(try parse("{\"maxPriority\":\"DEBUG\"}").0.maxPriority == 7)
        #expect(try parse("{\"maxPriority\":0}").0.maxPriority == 0)
        let errors = try parse("{\"maxPriority\":\"loud\"}").1
        #expect(errors == [
            "journal.maxPriority: \"loud\" is not a syslog priority; use a number from 0 to 7 or one of \"emerg\", \"alert\", \"crit\", \"err\", \"warning\", \"notice\", \"info\", \"debug\""
        ])
    }
}
