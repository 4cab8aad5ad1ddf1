import EdgeLogCore
import Testing

/// The `filters`, `redaction` and `records` sections: strict reading, key paths, defaults, twin patches.
@Suite struct FilterSettingsTests {
    func parse(_ text: String) -> (Configuration, [String]) {
        let (config, diagnostics) = Configuration.parse(text: Array(text.utf8))
        return (config, diagnostics.map(\.description))
    }

    @Test func defaultsFilterNothingAndRedactTheBuiltInSecrets() {
        let c = Configuration()
        #expect(c.filters.enabled && c.filters.rules.isEmpty)
        #expect(c.filters.rateLimitReportSeconds == 60 && c.filters.rateLimitMaxKeys == 1000)
        #expect(c.redaction.defaults && c.redaction.rules.isEmpty)
        #expect(c.redaction.effectiveRules == RedactionSettings.builtIn)
        #expect(c.records.columns == RecordColumn.allCases.map(\.rawValue))
        #expect(c.records.omitEmpty && c.records.containerId == "short")
        #expect(c.docker.labels.isEmpty)
        // `config defaults` prints the sections.
        let text = c.json.serialized(pretty: true)
        for key in ["\"filters\"", "\"rateLimitReportSeconds\"", "\"redaction\"", "\"records\"", "\"omitEmpty\""] {
            #expect(text.contains(key), "\(key)")
        }
    }

    @Test func aFullDocumentReadsAndRoundTrips() throws {
        let (config, problems) = parse(
            #"""
            {"filters": {"rules": [
                {"match": {"modules": ["SimulatedTemperatureSensor", "opc*"]}, "maxLevel": "warning",
                 "drop": ["^healthcheck ok$"], "keep": ["(?i)error|warn"],
                 "rateLimit": {"linesPerSecond": 200, "burst": 400}},
                {"match": {"units": ["docker", "aziot-*"], "identifiers": ["kernel"]}, "maxLevel": 5},
                {"rateLimit": {"linesPerSecond": 0.5}}
              ], "rateLimitReportSeconds": 30, "rateLimitMaxKeys": 50},
             "redaction": {"defaults": false, "rules": [{"pattern": "(?i)(password=)\\S+", "replacement": "$1***"},
                                                        {"pattern": "\\d{16}"}]},
             "records": {"columns": ["TimeGenerated", "ModuleId", "Level", "Message"], "omitEmpty": false,
                         "containerId": "full"}}
            """#)
        #expect(problems.isEmpty, "\(problems)")
        let rules = config.filters.rules
        #expect(rules.count == 3)
        #expect(rules[0].match.modules == ["SimulatedTemperatureSensor", "opc*"])
        #expect(rules[0].maxLevel == 4)
        #expect(rules[0].drop == ["^healthcheck ok$"] && rules[0].keep == ["(?i)error|warn"])
        #expect(rules[0].rateLimit == RateLimitSettings(linesPerSecond: 200, burst: 400))
        #expect(rules[1].match.units == ["docker", "aziot-*"] && rules[1].match.identifiers == ["kernel"])
        #expect(rules[1].maxLevel == 5 && rules[1].rateLimit == nil)
        #expect(rules[2].match.matchesEverything && rules[2].maxLevel == 7)
        #expect(rules[2].rateLimit == RateLimitSettings(linesPerSecond: 0.5, burst: 1))
        #expect(config.filters.rateLimitReportSeconds == 30 && config.filters.rateLimitMaxKeys == 50)
        #expect(!config.redaction.defaults)
        #expect(config.redaction.rules == [
            RedactionRule(pattern: "(?i)(password=)\\S+", replacement: "$1***"), RedactionRule(pattern: "\\d{16}"),
        ])
        #expect(config.redaction.rules[1].replacement == "<redacted>")
        #expect(config.records.columns == ["TimeGenerated", "ModuleId", "Level", "Message"])
        #expect(!config.records.omitEmpty && config.records.containerId == "full")
        // What `config defaults` / the twin's reported config print reads back the same.
        let (again, more) = parse(config.json.serialized())
        #expect(more.isEmpty)
        #expect(again == config)
    }

    @Test func everyProblemHasItsKeyPath() {
        let (_, problems) = parse(
            #"""
            {"filters": {"rules": [
                {"match": {"modules": [""], "pods": ["x"]}, "maxLevel": "loud", "drop": ["(a", "ok"],
                 "keep": ["(?<=x)y"], "rateLimit": {"linesPerSecond": 0, "burst": 0}},
                {"match": {"modules": ["!edgeHub"]}, "rateLimit": {}, "sample": 10},
                "all"
              ], "rateLimitMaxKeys": 0},
             "redaction": {"rules": [{"pattern": "a*"}, {"pattern": "(x)", "replacement": "$2"}, {"replacement": "x"},
                                     {"pattern": "a\\1"}]},
             "records": {"columns": ["Message", "Colour"], "containerId": "medium"}}
            """#)
        let expected = [
            "filters.rules[0].match.modules[0]: is empty; give a container name or a glob such as \"sensor*\"",
            "filters.rules[0].match.pods: is not a known key; remove it or use one of: identifiers, modules, units",
            "filters.rules[0].maxLevel: \"loud\" is not a level; use a number from 0 (emerg) to 7 (debug) or one of \"emerg\", \"alert\", \"crit\", \"err\", \"warning\", \"notice\", \"info\", \"debug\"",
            "filters.rules[0].drop[0]: \"(a\" is not a supported regular expression: missing ), unterminated subpattern (at 0); use literals, ., [classes], \\d \\w \\s \\b, ^ $, groups, |, * + ? {m,n} and (?i) (see docs/filters.md)",
            "filters.rules[0].keep[0]: \"(?<=x)y\" is not a supported regular expression: lookbehind ((?<= or (?<!) is not supported: it needs backtracking (at 0); use literals, ., [classes], \\d \\w \\s \\b, ^ $, groups, |, * + ? {m,n} and (?i) (see docs/filters.md)",
            "filters.rules[0].rateLimit.linesPerSecond: 0 is out of range; give the lines per second to let through, from 0.001 to 1000000, e.g. 200",
            "filters.rules[0].rateLimit.burst: 0 is under the minimum of 1; use at least 1",
            "filters.rules[1].match.modules: only excludes; add \"*\" in front to mean all others, e.g. [\"*\", \"!edgeHub\"]",
            "filters.rules[1].rateLimit.linesPerSecond: is missing; give the lines per second to let through, from 0.001 to 1000000, e.g. 200",
            "filters.rules[1].sample: is not a known key; remove it or use one of: drop, keep, match, maxLevel, rateLimit",
            "filters.rules[2]: is a string; give an object",
            "filters.rateLimitMaxKeys: 0 is under the minimum of 1; use at least 1",
            "redaction.rules[0].pattern: \"a*\" can match an empty string; make it match at least one character (use + rather than *)",
            "redaction.rules[1].replacement: refers to group $2 but the pattern has 1 group(s); use $0…$1, or $$ for a dollar sign",
            "redaction.rules[2].pattern: is missing; give a regular expression, e.g. \"(?i)(password=)\\\\S+\"",
            "redaction.rules[3].pattern: \"a\\1\" is not a supported regular expression: backreferences (\\1) are not supported: they need backtracking (at 1); use literals, ., [classes], \\d \\w \\s \\b, ^ $, groups, |, * + ? {m,n} and (?i) (see docs/filters.md)",
            "records.columns[1]: \"Colour\" is not a column; use some of TimeGenerated, Computer, DeviceId, IoTHub, Source, ModuleId, ContainerId, ContainerImage, Stream, Level, Message, Unit, Extra",
            "records.columns: does not list TimeGenerated; add \"TimeGenerated\": every record carries it",
            "records.containerId: \"medium\" is not a known value; use one of \"short\", \"full\"",
        ]
        for line in expected { #expect(problems.contains(line), "missing: \(line)") }
        for line in problems where !expected.contains(line) { Issue.record("unexpected: \(line)") }
    }

    @Test func disablingIsAlwaysValid() {
        let (config, problems) = parse(#"{"filters": {"enabled": false}, "redaction": {"defaults": false}}"#)
        #expect(problems.isEmpty)
        #expect(!config.filters.enabled && config.redaction.effectiveRules.isEmpty)
    }

    /// The twin merges desired properties over the document (RFC 7396): a patch of `filters` changes the section
    /// live like any other; lists are replaced whole, and `null` restores the default.
    @Test func twinPatchesChangeTheSections() throws {
        let base = Configuration().json
        let patch = try JSONParser.parse(
            Array(#"{"filters": {"rules": [{"match": {"modules": ["chatty"]}, "maxLevel": 4}]}, "records": {"containerId": "full"}}"#.utf8))
        let (patched, problems) = Configuration.parse(base.merging(patch: patch))
        #expect(problems.isEmpty)
        #expect(patched.filters.rules == [FilterRule(match: FilterMatch(modules: ["chatty"]), maxLevel: 4)])
        #expect(patched.records.containerId == "full")
        let reset = try JSONParser.parse(Array(#"{"filters": {"rules": null}, "records": null}"#.utf8))
        let (restored, more) = Configuration.parse(patched.json.merging(patch: reset))
        #expect(more.isEmpty)
        #expect(restored == Configuration())
    }
}
