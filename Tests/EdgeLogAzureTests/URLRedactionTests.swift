import EdgeLogCore
import Testing

@Suite struct URLRedactionTests {
    @Test func queryUserInfoAndFragmentAreHidden() {
        #expect(URLRedaction.redact("https://collector.example/ingest?token=abc") == "https://collector.example/ingest?<redacted>")
        #expect(URLRedaction.redact("http://user:pw@proxy:3128") == "http://<redacted>@proxy:3128")
        #expect(URLRedaction.redact("https://h/p#frag") == "https://h/p#<redacted>")
        #expect(URLRedaction.redact("https://h:8443/a/b") == "https://h:8443/a/b")
        #expect(URLRedaction.redact("not a url") == "not a url")
    }

    @Test func urlsInsideTextAreHidden() {
        let text = #"sink http: https://c.example/in?sig=s3cret&x=1 (ndjson); "url":"http://u:p@h/x?y" and ftp://a@b/c?d end"#
        let redacted = URLRedaction.redactURLs(in: text)
        #expect(
            redacted
                == #"sink http: https://c.example/in?<redacted> (ndjson); "url":"http://<redacted>@h/x?<redacted>" and ftp://<redacted>@b/c?<redacted> end"#
        )
        #expect(!redacted.contains("s3cret"))
        #expect(URLRedaction.redactURLs(in: "no urls: a://?") == "no urls: a://?<redacted>")
        #expect(URLRedaction.redactURLs(in: "://x?y") == "://x?y")
        #expect(URLRedaction.redactURLs(in: "") == "")
    }

    @Test func aURLInAValidationErrorIsRedacted() {
        let (_, problems) = Configuration.parse(
            (try? JSONParser.parse(#"{"sink":{"type":"http","url":"http://collector.example/in?token=s3cret"}}"#)) ?? .null)
        let text = problems.map(\.description).joined()
        #expect(text.contains("must use https"))
        #expect(!text.contains("s3cret"))
    }
}
