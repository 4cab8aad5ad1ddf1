import EdgeLogAzure
import EdgeLogCore
import EdgeLogTestKit
import Testing

@Suite struct RetryAfterTests {
    let now: Int64 = 784_111_777_000  // Sun, 06 Nov 1994 08:49:37 GMT

    @Test func secondsForm() {
        #expect(RetryAfter.parse("1", nowMillis: now) == .seconds(1))
        #expect(RetryAfter.parse(" 120 ", nowMillis: now) == .seconds(120))
        #expect(RetryAfter.parse("0", nowMillis: now) == .zero)
        #expect(RetryAfter.parse("999999999", nowMillis: now) == RetryAfter.maximum)
    }

    @Test func allThreeDateForms() {
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:47 GMT", nowMillis: now) == .seconds(10))
        #expect(RetryAfter.parse("Sunday, 06-Nov-94 08:49:47 GMT", nowMillis: now) == .seconds(10))
        #expect(RetryAfter.parse("Sun Nov  6 08:49:47 1994", nowMillis: now) == .seconds(10))
        #expect(RetryAfter.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
    }

    @Test func pastDatesMeanNowAndGarbageIsIgnored() {
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:00:00 GMT", nowMillis: now) == .zero)
        #expect(RetryAfter.parse("soon", nowMillis: now) == nil)
        #expect(RetryAfter.parse("-5", nowMillis: now) == nil)
        #expect(RetryAfter.parse("", nowMillis: now) == nil)
        #expect(RetryAfter.parse("Sun, 32 Nov 1994 08:49:47 GMT", nowMillis: now) == nil)
    }
}

@Suite struct ProxyTests {
    @Test func noProxyMatchesLikeCurl() {
        let list = NoProxy("localhost, .internal.example.com,example.org, 10.0.0.0/8 ,192.168.1.5, collector:8443")
        #expect(list.matches(host: "localhost", port: 443))
        #expect(list.matches(host: "a.internal.example.com", port: 443))
        #expect(list.matches(host: "internal.example.com", port: 443))
        #expect(list.matches(host: "example.org", port: 443))
        #expect(list.matches(host: "www.example.org", port: 443))
        #expect(!list.matches(host: "notexample.org", port: 443))
        #expect(list.matches(host: "10.20.30.40", port: 443))
        #expect(!list.matches(host: "11.0.0.1", port: 443))
        #expect(list.matches(host: "192.168.1.5", port: 443))
        #expect(list.matches(host: "collector", port: 8443))
        #expect(!list.matches(host: "collector", port: 443))
        #expect(!list.matches(host: "dce.westeurope-1.ingest.monitor.azure.com", port: 443))
        #expect(NoProxy("*").matches(host: "anything", port: 1))
        #expect(!NoProxy("").matches(host: "anything", port: 1))
    }

    @Test func proxyFromTheEnvironment() throws {
        let env = ["HTTPS_PROXY": "http://user:p%40ss@proxy.corp:3128/", "NO_PROXY": ".corp"]
        let proxy = try #require(try ProxySettings.fromEnvironment(env))
        #expect(proxy.host == "proxy.corp")
        #expect(proxy.port == 3128)
        #expect(proxy.user == "user")
        #expect(proxy.password?.exposed == "p@ss")
        #expect("\(proxy)" == "http://proxy.corp:3128 (with credentials)")
        #expect(proxy.applies(to: EndpointURL("https://x.ingest.monitor.azure.com")!))
        #expect(!proxy.applies(to: EndpointURL("https://collector.corp")!))
        #expect(!proxy.applies(to: EndpointURL("http://127.0.0.1:8080")!))
        // lower case wins; no scheme means http; port defaults to 1080 as curl
        let lower = try #require(
            try ProxySettings.fromEnvironment(["https_proxy": "squid:8080", "HTTPS_PROXY": "http://other:1"]))
        #expect(lower.host == "squid" && lower.port == 8080)
        #expect(try ProxySettings.fromEnvironment(["https_proxy": "http://squid"])?.port == 1080)
        #expect(try ProxySettings.fromEnvironment([:]) == nil)
        #expect(throws: SinkSetupError.self) { try ProxySettings.fromEnvironment(["https_proxy": "socks5://s:1080"]) }
    }
}

@Suite struct SecretTests {
    @Test func secretsNeverPrint() {
        let secret = Secret("hunter2")
        #expect("\(secret)" == "<redacted>")
        #expect(String(describing: secret) == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("hunter2"))
        #expect(!"\([secret])".contains("hunter2"))
        #expect(secret.exposed == "hunter2")
    }

    @Test func clientSecretComesFromAFileOrTheEnvironment() throws {
        let dir = TemporaryDirectory()
        try FileSystem.writeAtomically(Array("from-file\n".utf8), to: dir.path + "/secret")
        #expect(try SecretSource.clientSecret(file: dir.path + "/secret", environment: [:]).exposed == "from-file")
        #expect(
            try SecretSource.clientSecret(file: "", environment: ["EDGELOG_CLIENT_SECRET": "from-env"]).exposed
                == "from-env")
        #expect(throws: SinkSetupError.self) { try SecretSource.clientSecret(file: "", environment: [:]) }
        #expect(throws: SinkSetupError.self) {
            try SecretSource.clientSecret(file: dir.path + "/missing", environment: [:])
        }
        do {
            _ = try SecretSource.headers(["Authorization": "COLLECTOR_TOKEN"], environment: [:])
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("COLLECTOR_TOKEN is not set"))
        }
    }
}

@Suite struct TokenCacheTests {
    @Test func renewsAheadThenExpires() {
        var cache = TokenCache()
        let t0 = Duration.seconds(7)
        #expect(cache.decide(now: t0) == .renew(fallback: nil))
        cache.store(Secret("a"), lifetime: .seconds(3600), fetchedAt: t0)
        #expect(cache.decide(now: t0 + .seconds(3299)) == .use(Secret("a")))
        #expect(cache.decide(now: t0 + .seconds(3300)) == .renew(fallback: Secret("a")))
        #expect(cache.decide(now: t0 + .seconds(3600)) == .renew(fallback: nil))
        // Short-lived tokens are renewed at half their life.
        cache.store(Secret("b"), lifetime: .seconds(2), fetchedAt: t0)
        #expect(cache.decide(now: t0 + .milliseconds(999)) == .use(Secret("b")))
        #expect(cache.decide(now: t0 + .seconds(1)) == .renew(fallback: Secret("b")))
        // A 401 drops only the token it was for.
        cache.invalidate(Secret("old"))
        #expect(cache.entry != nil)
        cache.invalidate(Secret("b"))
        #expect(cache.entry == nil)
    }

    @Test func requestIdsAreVersion4GUIDs() {
        let a = RequestID.make()
        #expect(SinkSettings.isGUID(a))
        #expect(Array(a)[14] == "4")
        #expect(a != RequestID.make())
    }
}
