import EdgeLogCore
import Testing

@Suite struct SinkSettingsTests {
    func parse(_ sink: String) -> (Configuration, [String]) {
        let (config, diagnostics) = Configuration.parse(text: Array("{\"sink\":\(sink)}".utf8))
        return (config, diagnostics.map(\.description))
    }

    let valid = """
        {"type":"logsIngestion","endpoint":"https://edge-dce-a1b2.westeurope-1.ingest.monitor.azure.com",
         "dcrImmutableId":"dcr-0123456789abcdef0123456789abcdef","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47",
         "clientId":"00000000-0000-4000-8000-000000000001","clientSecretFile":"/run/secrets/edgelog"}
        """

    @Test func aCompleteLogsIngestionSectionIsValid() {
        let (config, problems) = parse(valid)
        #expect(problems.isEmpty)
        #expect(config.sink.batchFormat == .jsonArray)
        #expect(config.sink.streamName == "Custom-EdgeLogs")
        #expect(config.sink.concurrency == 2)
        #expect(
            config.sink.ingestionURL
                == "https://edge-dce-a1b2.westeurope-1.ingest.monitor.azure.com/dataCollectionRules/dcr-0123456789abcdef0123456789abcdef/streams/Custom-EdgeLogs?api-version=2023-01-01"
        )
        #expect(
            config.sink.tokenURL
                == "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token")
    }

    /// `target` carries the chosen sink's settings; the keys of the other types stay in the document.
    @Test func theTargetCarriesTheChosenSinksSettings() throws {
        #expect(parse("{}").0.sink.target == .file(directory: ""))
        guard case .logsIngestion(let ingestion) = parse(valid).0.sink.target else {
            Issue.record("expected the logsIngestion target")
            return
        }
        #expect(ingestion.ingestionURL == parse(valid).0.sink.ingestionURL)
        #expect(ingestion.clientId == "00000000-0000-4000-8000-000000000001")
        #expect(ingestion.clientSecretFile == "/run/secrets/edgelog")
        let (http, problems) = parse(
            #"{"type":"http","url":"https://collector.example.com/in","format":"ndjson","headers":{"X-Site":"7"},"directory":"/kept"}"#)
        #expect(problems.isEmpty)
        #expect(
            http.sink.target
                == .http(
                    HTTPTarget(
                        url: "https://collector.example.com/in", format: .ndjson, headers: ["X-Site": "7"],
                        headersFromEnvironment: [:])))
        #expect(http.sink.batchFormat == .ndjson)
        // Switching back is a one-key change: the file sink's key was kept.
        #expect(http.sink.json["type"] == .string("http"))
        var back = http.sink
        back.type = .file
        #expect(back.target == .file(directory: "/kept"))
        #expect(parse(#"{"type":"ftp"}"#).1.first?.hasPrefix("sink.type:") == true)
    }

    @Test func theUplinkBudgetIsOffByDefaultAndTakesSizes() {
        #expect(parse(valid).0.sink.maxBytesPerSecond == 0)
        for (given, bytes) in [("0", Int64(0)), ("1000", 1000), ("\"20kB\"", 20_000), ("\"1MiB\"", 1_048_576)] {
            let (config, problems) = parse("{\"maxBytesPerSecond\":\(given)}")
            #expect(problems.isEmpty, "\(given): \(problems)")
            #expect(config.sink.maxBytesPerSecond == bytes, "\(given)")
        }
        #expect(
            parse(#"{"maxBytesPerSecond":500}"#).1 == [
                "sink.maxBytesPerSecond: 500 is under the minimum of 1000 bytes per second; use 0 (no cap) or at least 1000, e.g. \"20kB\""
            ])
        #expect(parse(#"{"maxBytesPerSecond":-1}"#).1.count == 1)
        #expect(parse(#"{"maxBytesPerSecond":"2GB"}"#).1.first?.hasPrefix("sink.maxBytesPerSecond: 2000000000 is over") == true)
        #expect(parse(#"{"maxBytesPerSecond":"fast"}"#).1.first?.hasPrefix("sink.maxBytesPerSecond: \"fast\" is not a size") == true)
        // A refused value leaves the default in force.
        #expect(parse(#"{"maxBytesPerSecond":500}"#).0.sink.maxBytesPerSecond == 0)
        // It round-trips through the document the twin reports.
        var settings = SinkSettings()
        settings.maxBytesPerSecond = 25_000
        #expect(settings.json["maxBytesPerSecond"] == .int(25_000))
    }

    @Test func theBudgetWindowIsAMinuteByDefaultAndRangeChecked() {
        #expect(parse(valid).0.sink.budgetWindowSeconds == 60)
        let (config, problems) = parse(#"{"budgetWindowSeconds":300}"#)
        #expect(problems.isEmpty)
        #expect(config.sink.budgetWindowSeconds == 300)
        for bad in ["0", "-5", "7200", "\"soon\""] {
            let (refused, found) = parse("{\"budgetWindowSeconds\":\(bad)}")
            #expect(found.count == 1 && found[0].hasPrefix("sink.budgetWindowSeconds:"), "\(bad): \(found)")
            #expect(refused.sink.budgetWindowSeconds == 60)
        }
        var settings = SinkSettings()
        settings.budgetWindowSeconds = 30
        #expect(settings.json["budgetWindowSeconds"] == .double(30))
    }

    @Test func requiredKeysAreNamed() {
        let (_, problems) = parse(#"{"type":"logsIngestion"}"#)
        #expect(problems.count == 4)
        #expect(
            problems.contains {
                $0.hasPrefix(
                    "sink.endpoint: is required when sink.type is \"logsIngestion\"; give the rule's logs ingestion endpoint"
                )
            })
        #expect(problems.contains { $0.hasPrefix("sink.dcrImmutableId: is required") })
        #expect(problems.contains { $0.hasPrefix("sink.tenantId: is required") })
        #expect(problems.contains { $0.hasPrefix("sink.clientId: is required") })
    }

    @Test func plainHttpOnlyForLoopback() {
        let (_, problems) = parse(#"{"type":"http","url":"http://example.com"}"#)
        #expect(
            problems == [
                "sink.url: \"http://example.com\" must use https (plain http is allowed only for loopback addresses); use an https URL"
            ])
        for url in ["http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x", "https://example.com/x"] {
            #expect(parse("{\"type\":\"http\",\"url\":\"\(url)\"}").1.isEmpty, "\(url)")
        }
        #expect(
            parse(#"{"type":"http","url":"ftp://x"}"#).1 == [
                "sink.url: \"ftp://x\" is not an absolute http(s) URL; use an https URL, e.g. https://example.com"
            ])
        #expect(parse(#"{"authorityHost":"http://login.example"}"#).1.count == 1)
    }

    @Test func aSecretInTheDocumentIsRefused() {
        let (_, problems) = parse(#"{"clientSecret":"abc"}"#)
        #expect(problems.count == 1)
        #expect(problems[0].hasPrefix("sink.clientSecret: a secret cannot be given in the configuration"))
        #expect(problems[0].contains("sink.clientSecretFile"))
        #expect(problems[0].contains("EDGELOG_CLIENT_SECRET"))
        #expect(!problems[0].contains("abc"))
    }

    @Test func identifiersAreChecked() {
        let (_, problems) = parse(
            #"{"dcrImmutableId":"/subscriptions/x/dataCollectionRules/edgelog","clientId":"my-app","tenantId":"a/b","streamName":"Custom EdgeLogs","scope":"https://monitor.azure.com","concurrency":0,"timeoutSeconds":0.1}"#
        )
        #expect(problems.count == 7)
        #expect(
            problems.contains {
                $0.hasPrefix(
                    "sink.dcrImmutableId: \"/subscriptions/x/dataCollectionRules/edgelog\" is not a data collection rule's immutable id"
                )
            })
        #expect(problems.contains { $0.hasPrefix("sink.clientId: \"my-app\" is not a GUID") })
        #expect(problems.contains { $0.hasPrefix("sink.tenantId:") })
        #expect(problems.contains { $0.hasPrefix("sink.streamName:") })
        #expect(
            problems.contains { $0.hasPrefix("sink.scope: \"https://monitor.azure.com\" does not end in /.default") })
        #expect(problems.contains { $0.hasPrefix("sink.concurrency: 0 is under the minimum") })
        #expect(problems.contains { $0.hasPrefix("sink.timeoutSeconds: 0.1 is under the minimum") })
    }

    @Test func headersAreChecked() {
        let (config, problems) = parse(
            #"{"type":"http","url":"https://c.example/in","format":"ndjson","headers":{"Authorization":"Basic x","X-Tenant":"a","Content-Type":"text/plain","Bad Name":"v"},"headersFromEnvironment":{"x-tenant":"T","X-Key":""}}"#
        )
        #expect(config.sink.batchFormat == .ndjson)
        #expect(problems.count == 5)
        #expect(
            problems.contains {
                $0.hasPrefix("sink.headers.Authorization: would put a credential in the configuration")
            })
        #expect(problems.contains("sink.headers.Content-Type: is set by EdgeLog itself; remove it"))
        #expect(problems.contains("sink.headers.Bad Name: is not a valid header name; use letters, digits and -"))
        #expect(
            problems.contains(
                "sink.headersFromEnvironment.x-tenant: is given twice (header names are case-insensitive); keep one"))
        #expect(problems.contains { $0.hasPrefix("sink.headersFromEnvironment.X-Key: is empty") })
    }

    @Test func sovereignCloudsAndDefaultsRoundTrip() {
        let (config, problems) = parse(
            #"{"type":"logsIngestion","endpoint":"https://x.usgovvirginia-1.ingest.monitor.azure.us","dcrImmutableId":"dcr-0123456789abcdef0123456789abcdef","tenantId":"contoso.onmicrosoft.us","clientId":"00000000-0000-4000-8000-000000000001","authorityHost":"https://login.microsoftonline.us/","scope":"https://monitor.azure.us//.default"}"#
        )
        #expect(problems.isEmpty)
        #expect(config.sink.tokenURL == "https://login.microsoftonline.us/contoso.onmicrosoft.us/oauth2/v2.0/token")
        let (again, none) = Configuration.parse(text: Array(config.json.serialized(pretty: true).utf8))
        #expect(none.isEmpty)
        #expect(again == config)
    }

    @Test func endpointURLsAreTakenApart() {
        let url = EndpointURL("HTTPS://Example.COM:8443/base/?q=1")!
        #expect(url.scheme == "https" && url.host == "example.com" && url.port == 8443)
        #expect(url.appending(path: "/x") == "https://example.com:8443/base/?q=1/x" || url.pathAndQuery == "/base/?q=1")
        #expect(EndpointURL("https://[::1]:9")!.isLoopback)
        #expect(EndpointURL("http://127.0.0.2")!.isLoopback)
        #expect(!EndpointURL("http://127.0.0.1.example.com")!.isLoopback)
        #expect(EndpointURL("https://user:pw@example.com") == nil)
        #expect(EndpointURL("https://") == nil)
        #expect(EndpointURL("https://example.com:99999") == nil)
    }
}
