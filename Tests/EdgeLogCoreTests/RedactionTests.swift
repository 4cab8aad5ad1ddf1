import EdgeLogCore
import Testing

/// Redaction through the record filter: the built-in rules on the secrets IoT Edge and Azure log, the admin's own
/// rules, and what happens to messages without secrets.
@Suite struct RedactionTests {
    func redact(_ message: String, _ settings: RedactionSettings = RedactionSettings()) -> String {
        let filter = RecordFilter(filters: FilterSettings(), redaction: settings)
        var message = message
        return message.withUTF8 { m in
            switch filter.evaluate(.unfiltered, level: 6, message: m) {
            case .keep: return String(decoding: m, as: UTF8.self)
            case .keepRedacted: return String(decoding: filter.redacted, as: UTF8.self)
            case .drop(let reason): return "dropped: \(reason)"
            }
        }
    }

    @Test(arguments: [
        (
            "connecting with HostName=hub.azure-devices.net;DeviceId=d1;ModuleId=m;SharedAccessKey=c2VjcmV0PT0=;GatewayHostName=gw",
            "connecting with HostName=hub.azure-devices.net;DeviceId=d1;ModuleId=m;SharedAccessKey=<redacted>;GatewayHostName=gw"
        ),
        (
            "HostName=h;SharedAccessKeyName=iothubowner;sharedaccesskey=abc/def+g==",
            "HostName=h;SharedAccessKeyName=iothubowner;sharedaccesskey=<redacted>"
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFy==;EndpointSuffix=core.windows.net",
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<redacted>;EndpointSuffix=core.windows.net"
        ),
        (
            "Authorization: SharedAccessSignature sr=hub.azure-devices.net%2Fdevices%2Fd1&sig=abc%2Bdef%3D&se=1700000000&skn=device",
            "Authorization: SharedAccessSignature <redacted>"
        ),
        (
            "GET https://acct.blob.core.windows.net/c/b?sv=2021-08-06&sig=abc%2Bdef%3D&se=2026 200",
            "GET https://acct.blob.core.windows.net/c/b?sv=2021-08-06&sig=<redacted>&se=2026 200"
        ),
        (
            "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "Authorization: Bearer <redacted>"
        ),
        ("{\"authorization\":\"bearer 0123456789abcdef0123==\"}", "{\"authorization\":\"bearer <redacted>\"}"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic <redacted>"),
        (
            "POST /token grant_type=client_credentials&client_id=abc&client_secret=s3cr3t~x.Y&scope=x",
            "POST /token grant_type=client_credentials&client_id=abc&client_secret=<redacted>&scope=x"
        ),
        (
            "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpM refreshed",
            "token <redacted-jwt> refreshed"
        ),
        // Not secrets: left as they are.
        ("the bearer of bad news", "the bearer of bad news"),
        ("SharedAccessKeyName=iothubowner;x=1", "SharedAccessKeyName=iothubowner;x=1"),
        ("signature=ok; design=fine", "signature=ok; design=fine"),
        ("", ""),
    ])
    func theBuiltInRules(message: String, expected: String) {
        #expect(redact(message) == expected)
    }

    @Test func adminRulesApplyAfterTheDefaultsAndCanReplaceThem() {
        var settings = RedactionSettings()
        settings.rules = [
            RedactionRule(pattern: "(?i)(password|pwd)=\\S+", replacement: "$1=*** ($$)"),
            RedactionRule(pattern: "\\b\\d{4}-\\d{4}-\\d{4}-(\\d{4})\\b", replacement: "****-$1"),
        ]
        #expect(
            redact("login pwd=hunter2 card 1234-5678-9012-3456 SharedAccessKey=abc", settings)
                == "login pwd=*** ($) card ****-3456 SharedAccessKey=<redacted>")
        settings.defaults = false
        #expect(
            redact("PASSWORD=x SharedAccessKey=abc", settings) == "PASSWORD=*** ($) SharedAccessKey=abc")
        settings.rules = []
        let filter = RecordFilter(filters: FilterSettings(), redaction: settings)
        #expect(filter.isPassThrough)
    }

    @Test func everyMatchIsReplacedAndCounted() {
        let filter = RecordFilter(filters: FilterSettings(), redaction: RedactionSettings())
        var message = "a sig=1 b sig=2&sig=3 c SharedAccessKey=k"
        let verdict = message.withUTF8 { filter.evaluate(.unfiltered, level: 6, message: $0) }
        #expect(verdict == .keepRedacted)
        #expect(
            String(decoding: filter.redacted, as: UTF8.self)
                == "a sig=<redacted> b sig=<redacted>&sig=<redacted> c SharedAccessKey=<redacted>")
        var clean = "nothing to see"
        #expect(clean.withUTF8 { filter.evaluate(.unfiltered, level: 6, message: $0) } == .keep)
        let counters = Counters()
        filter.flush(to: counters)
        #expect(counters[.messagesRedacted] == 1)  // messages, not matches
    }

    /// A rule whose replacement is longer than what it matches cannot make a message grow without bound: past
    /// 64 KiB (or the message's own length) of growth the rest is cut, never shipped unredacted.
    @Test func growthIsBounded() {
        var settings = RedactionSettings()
        settings.rules = [RedactionRule(pattern: "x", replacement: String(repeating: "R", count: 256))]
        let filter = RecordFilter(filters: FilterSettings(), redaction: settings)
        var message = String(repeating: "x", count: 200_000)
        #expect(message.withUTF8 { filter.evaluate(.unfiltered, level: 6, message: $0) } == .keepRedacted)
        #expect(filter.redacted.count <= 400_000 + 256)
        #expect(!filter.redacted.contains(UInt8(ascii: "x")))
    }
}
