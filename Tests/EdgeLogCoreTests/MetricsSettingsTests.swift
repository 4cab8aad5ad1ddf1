import EdgeLogCore
import Testing

@Suite struct MetricsSettingsTests {
    func parse(_ text: String) -> (Configuration, [String]) {
        let (config, diagnostics) = Configuration.parse(text: Array(text.utf8))
        return (config, diagnostics.map(\.description))
    }

    @Test func defaultsAreTheEdgeModulesPortAndPath() {
        let (config, problems) = parse("{}")
        #expect(problems.isEmpty)
        #expect(config.metrics.enabled)
        #expect(config.metrics.host == "0.0.0.0")
        #expect(config.metrics.port == 9600)
        #expect(config.metrics.path == "/metrics")
        #expect(config.metrics.sinkFailureSeconds == 600)
        let doc = Configuration().json["metrics"]
        #expect(doc?["port"] == .int(9600))
        #expect(doc?["path"] == .string("/metrics"))
    }

    @Test func everyKeyIsRead() {
        let (config, problems) = parse(
            #"{"metrics":{"enabled":false,"host":"127.0.0.1","port":9601,"path":"/prom","sinkFailureSeconds":30}}"#)
        #expect(problems.isEmpty)
        #expect(!config.metrics.enabled)
        #expect(config.metrics.host == "127.0.0.1")
        #expect(config.metrics.port == 9601)
        #expect(config.metrics.path == "/prom")
        #expect(config.metrics.sinkFailureSeconds == 30)
    }

    @Test func badValuesAreListed() {
        let (_, problems) = parse(
            #"{"metrics":{"enabled":"yes","host":"","port":70000,"path":"metrics","sinkFailureSeconds":0,"tls":true}}"#)
        #expect(problems.count == 6, "\(problems)")
        #expect(problems.contains("metrics.enabled: is a string; use true or false"))
        #expect(problems.contains("metrics.host: is empty; give a non-empty string"))
        #expect(problems.contains("metrics.port: 70000 is over the maximum of 65535; use at most 65535"))
        #expect(problems.contains { $0.hasPrefix("metrics.path: \"metrics\" is not a URL path") })
        #expect(problems.contains { $0.hasPrefix("metrics.sinkFailureSeconds: 0.0 is under the minimum of 1.0") })
        #expect(problems.contains { $0.hasPrefix("metrics.tls: is not a known key") })
    }

    @Test func theHealthPathIsTaken() {
        let (config, problems) = parse(#"{"metrics":{"path":"/healthz"}}"#)
        #expect(
            problems == ["metrics.path: /healthz is the health check's path; use another path, such as \"/metrics\""])
        #expect(config.metrics.path == "/metrics")
    }
}
