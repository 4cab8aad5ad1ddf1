import EdgeLogCore
import Testing

private func parse(_ text: String) -> (seconds: Int64, nanos: Int32)? {
    var text = text
    return text.withUTF8 { Timestamp.parse($0) }
}

private func format(_ seconds: Int64, _ nanos: Int32, digits: Int = 9) -> String {
    var out: [UInt8] = []
    Timestamp.appendRFC3339(seconds: seconds, nanos: nanos, fractionDigits: digits, to: &out)
    return String(decoding: out, as: UTF8.self)
}

private func canonical(_ text: String) -> Bool {
    var text = text
    return text.withUTF8 { Timestamp.isCanonicalUTC($0) }
}

private func micros(_ value: UInt64) -> String {
    var out: [UInt8] = []
    Timestamp.appendRFC3339(microseconds: value, to: &out)
    return String(decoding: out, as: UTF8.self)
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0), Int32(0)),
        ("1970-01-01T00:00:00.000000001Z", 0, 1),
        ("2026-11-27T18:04:31.123456789Z", 1_795_802_671, 123_456_789),
        ("2024-11-27T18:04:31Z", 1_732_730_671, 0),
        ("2024-02-29T12:00:00Z", 1_709_208_000, 0),
        ("2000-02-29T00:00:00Z", 951_782_400, 0),
        ("0001-01-01T00:00:00Z", -62_135_596_800, 0),
        ("9999-12-31T23:59:59.999999999Z", 253_402_300_799, 999_999_999),
        ("1969-12-31T23:59:59.5Z", -1, 500_000_000),
        ("2024-02-29t12:00:00z", 1_709_208_000, 0),
        ("2024-11-27T18:04:31.5Z", 1_732_730_671, 500_000_000),
        ("2024-11-27T18:04:31.000123Z", 1_732_730_671, 123_000),
        ("2024-11-27T18:04:31.1234567891234Z", 1_732_730_671, 123_456_789),
        ("2024-11-27T18:04:31.9999999999Z", 1_732_730_671, 999_999_999),
        ("2024-11-27T23:34:31.25+05:30", 1_732_730_671, 250_000_000),
        ("2024-11-27T10:04:31-08:00", 1_732_730_671, 0),
        ("2024-11-28T02:04:31+08:00", 1_732_730_671, 0),
        ("2024-11-27T18:04:31+00:00", 1_732_730_671, 0),
        ("2024-11-27T18:04:31-00:00", 1_732_730_671, 0),
        ("2024-11-27T00:30:00+01:00", 1_732_663_800, 0),  // crosses midnight backwards
        ("2016-12-31T23:59:60Z", 1_483_228_800, 0),  // leap second = next second
    ] as [(String, Int64, Int32)])
    func parses(_ text: String, _ seconds: Int64, _ nanos: Int32) throws {
        let parsed = try #require(parse(text))
        #expect(parsed.seconds == seconds)
        #expect(parsed.nanos == nanos)
    }

    @Test(arguments: [
        "",
        "2024-11-27T18:04:31",  // no offset
        "2024-11-27 18:04:31Z",  // space separator
        "2024-11-27T18:04:31.Z",  // dot without digits
        "2024-11-27T18:04:31ZZ",  // trailing data
        "2024-11-27T18:04:31Z ",
        " 2024-11-27T18:04:31Z",
        "2024-11-27T18:04:31+0530",  // offset without colon
        "2024-11-27T18:04:31+05",
        "2024-11-27T18:04:31+24:00",  // offset hour out of range
        "2024-11-27T18:04:31+05:60",
        "2023-02-29T00:00:00Z",  // not a leap year
        "1900-02-29T00:00:00Z",  // century, not a leap year
        "2024-02-30T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-32T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T23:59:61Z",
        "0000-01-01T00:00:00Z",  // year 0 is out of range
        "2024-1-01T00:00:00Z",
        "2024/01/01T00:00:00Z",
        "2024-01-01T00:00:0aZ",
        "20240101T000000Z",
    ])
    func rejects(_ text: String) {
        #expect(parse(text) == nil)
    }

    @Test func leapYearFeb29() throws {
        let leap = try #require(parse("2024-02-29T00:00:00Z"))
        let march1 = try #require(parse("2024-03-01T00:00:00Z"))
        #expect(march1.seconds - leap.seconds == 86_400)
        #expect(format(leap.seconds, leap.nanos, digits: 0) == "2024-02-29T00:00:00Z")
        #expect(parse("2023-02-29T00:00:00Z") == nil)
        #expect(parse("2023-02-28T00:00:00Z") != nil)
    }

    @Test(arguments: [
        "1970-01-01T00:00:00.000000000Z",
        "2026-11-27T18:04:31.123456789Z",
        "2024-02-29T23:59:59.999999999Z",
        "1969-12-31T23:59:59.000000001Z",
        "0001-01-01T00:00:00.000000000Z",
        "9999-12-31T23:59:59.999999999Z",
        "1600-02-29T12:34:56.000000007Z",
        "2100-03-01T00:00:00.100000000Z",
    ])
    func roundTrip(_ text: String) throws {
        let parsed = try #require(parse(text))
        #expect(format(parsed.seconds, parsed.nanos) == text)
    }

    @Test func roundTripEveryDayOfFourCenturies() throws {
        // Every day from 1900 to 2300 goes through format → parse → same instant.
        let start = try #require(parse("1900-01-01T00:00:00Z")).seconds
        let end = try #require(parse("2300-01-01T00:00:00Z")).seconds
        var seconds = start
        var days = 0
        while seconds < end {
            let instant = seconds + 45_296  // 12:34:56
            let text = format(instant, 42, digits: 9)
            let parsed = try #require(parse(text), "\(text)")
            #expect(parsed.seconds == instant && parsed.nanos == 42, "\(text)")
            seconds += 86_400
            days += 1
        }
        #expect(days == 146_097)  // 400 Gregorian years
    }

    @Test func offsetsConvertToUTC() throws {
        let ist = try #require(parse("2024-11-27T23:34:31.25+05:30"))
        #expect(format(ist.seconds, ist.nanos, digits: 3) == "2024-11-27T18:04:31.250Z")
        let pst = try #require(parse("2024-12-31T20:00:00-08:00"))
        #expect(format(pst.seconds, pst.nanos, digits: 0) == "2025-01-01T04:00:00Z")
    }

    @Test func epochZero() {
        #expect(format(0, 0) == "1970-01-01T00:00:00.000000000Z")
        #expect(format(0, 0, digits: 0) == "1970-01-01T00:00:00Z")
        #expect(format(-1, 0, digits: 0) == "1969-12-31T23:59:59Z")
        #expect(format(-86_400, 0, digits: 0) == "1969-12-31T00:00:00Z")
    }

    @Test func fractionDigits() {
        let s: Int64 = 1_732_730_671
        #expect(format(s, 123_456_789, digits: 0) == "2024-11-27T18:04:31Z")
        #expect(format(s, 123_456_789, digits: 1) == "2024-11-27T18:04:31.1Z")
        #expect(format(s, 123_456_789, digits: 3) == "2024-11-27T18:04:31.123Z")
        #expect(format(s, 123_456_789, digits: 6) == "2024-11-27T18:04:31.123456Z")
        #expect(format(s, 123_456_789, digits: 9) == "2024-11-27T18:04:31.123456789Z")
        #expect(format(s, 999_999_999, digits: 3) == "2024-11-27T18:04:31.999Z")  // truncated, not rounded
        #expect(format(s, 5, digits: 9) == "2024-11-27T18:04:31.000000005Z")
        #expect(format(s, 5, digits: 12) == "2024-11-27T18:04:31.000000005Z")  // clamped to 9
        #expect(format(s, 5, digits: -1) == "2024-11-27T18:04:31Z")  // clamped to 0
        // nanos out of range carry into the seconds
        #expect(format(s, 1_500_000_000, digits: 1) == "2024-11-27T18:04:32.5Z")
        #expect(format(s, -500_000_000, digits: 1) == "2024-11-27T18:04:30.5Z")
    }

    @Test(arguments: [
        "2026-11-27T18:04:31Z",
        "2026-11-27T18:04:31.1Z",
        "2026-11-27T18:04:31.123456Z",
        "2026-11-27T18:04:31.123456789Z",
        "2016-12-31T23:59:60Z",
        "2024-02-31T00:00:00Z",  // day only checked against 1...31
        "0001-01-01T00:00:00.000Z",
    ])
    func canonicalTrue(_ text: String) {
        #expect(canonical(text))
    }

    @Test(arguments: [
        "",
        "2026-11-27t18:04:31Z",
        "2026-11-27T18:04:31z",
        "2026-11-27 18:04:31Z",
        "2026-11-27T18:04:31",
        "2026-11-27T18:04:31+00:00",
        "2026-11-27T18:04:31.Z",
        "2026-11-27T18:04:31.1234567890Z",  // 10 digits
        "2026-11-27T18:04:31.12a4Z",
        "2026-11-27T18:04:31,123Z",
        "2026-13-27T18:04:31Z",
        "2026-00-27T18:04:31Z",
        "2026-11-32T18:04:31Z",
        "2026-11-00T18:04:31Z",
        "2026-11-27T24:04:31Z",
        "2026-11-27T18:60:31Z",
        "2026-11-27T18:04:61Z",
        "2026-11-27T18:04:31ZZ",
        "2026-11-27T18:04:31Z ",
        "2026-11-2718:04:31Z!",
        "2O26-11-27T18:04:31Z",
    ])
    func canonicalFalse(_ text: String) {
        #expect(!canonical(text))
    }

    @Test func microseconds() {
        #expect(micros(1_732_730_671_123_456) == "2024-11-27T18:04:31.123456Z")
        #expect(micros(0) == "1970-01-01T00:00:00.000000Z")
        #expect(micros(1) == "1970-01-01T00:00:00.000001Z")
        #expect(micros(1_795_802_671_999_999) == "2026-11-27T18:04:31.999999Z")
    }

    @Test func appendsToExistingBytes() {
        var out = Array("t=".utf8)
        Timestamp.appendRFC3339(seconds: 0, nanos: 0, fractionDigits: 0, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "t=1970-01-01T00:00:00Z")
    }

    @Test func nowIsPlausible() {
        let now = Timestamp.now()
        #expect(now.seconds > 1_700_000_000)
        #expect(now.nanos >= 0 && now.nanos < 1_000_000_000)
    }
}
