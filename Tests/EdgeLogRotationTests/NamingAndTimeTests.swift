import EdgeLogRotation
import Testing

@Suite struct NamingAndTimeTests {
    @Test func parsesLogrotateNames() {
        let base = "abc-json.log"
        #expect(RotatedName.parse("abc-json.log.1", base: base) == .numbered(index: 1, compressed: false))
        #expect(RotatedName.parse("abc-json.log.12.gz", base: base) == .numbered(index: 12, compressed: true))
        #expect(RotatedName.parse("abc-json.log-20261127", base: base) == .dated(stamp: "20261127", sequence: 1, compressed: false))
        #expect(RotatedName.parse("abc-json.log-2026112713.gz", base: base) == .dated(stamp: "2026112713", sequence: 1, compressed: true))
        #expect(RotatedName.parse("abc-json.log-20261127-3.gz", base: base) == .dated(stamp: "20261127", sequence: 3, compressed: true))
        for other in [
            "abc-json.log", "abc-json.log.0", "abc-json.log.01", "abc-json.log.x", "abc-json.log.1.bz2", "abc-json.log-2026",
            "abc-json.log-20261127-1", "abc-json.log-20261127-", "abc-json.log.gz", "xabc-json.log.1", "abc-json.log.1.gz.tmp",
        ] {
            #expect(RotatedName.parse(other, base: base) == nil, "\(other)")
        }
    }

    @Test func formatsAndOrdersNames() {
        #expect(RotatedName.numbered(index: 2, compressed: true).fileName(base: "x.log") == "x.log.2.gz")
        #expect(RotatedName.dated(stamp: "20261127", sequence: 2, compressed: false).fileName(base: "x.log") == "x.log-20261127-2")
        #expect(RotatedName.numbered(index: 1, compressed: false).isNewer(than: .numbered(index: 2, compressed: true)))
        #expect(RotatedName.dated(stamp: "20261127", sequence: 2, compressed: false).isNewer(than: .dated(stamp: "20261127", sequence: 1, compressed: true)))
        #expect(RotatedName.dated(stamp: "2026112701", sequence: 1, compressed: false).isNewer(than: .dated(stamp: "20261127", sequence: 1, compressed: false)))
        #expect(RotatedNaming.temporary(for: "x.log.2.gz") == ".x.log.2.gz.edgelog-tmp")
    }

    @Test func utcCalendarAndIsoWeeks() {
        let t = UTCTime(epochSeconds: UTCTime.epochSeconds(year: 2026, month: 11, day: 27, hour: 19, minute: 5))
        #expect((t.year, t.month, t.day, t.hour) == (2026, 11, 27, 19))
        #expect(t.stamp(withHour: false) == "20261127" && t.stamp(withHour: true) == "2026112719")
        #expect(UTCTime.iso8601(0) == "1970-01-01T00:00:00Z")
        #expect(UTCTime.iso8601(UTCTime.epochSeconds(year: 2024, month: 2, day: 29, hour: 23, minute: 59, second: 58)) == "2024-02-29T23:59:58Z")
        // ISO weeks: 2027-01-01 is a Friday and belongs to week 53 of 2026; 2024-12-30 (a Monday) to week 1 of 2025.
        let newYear = UTCTime(epochSeconds: UTCTime.epochSeconds(year: 2027, month: 1, day: 1))
        #expect((newYear.isoYear, newYear.isoWeek) == (2026, 53))
        let monday = UTCTime(epochSeconds: UTCTime.epochSeconds(year: 2024, month: 12, day: 30))
        #expect((monday.isoYear, monday.isoWeek) == (2025, 1))
        let sunday = UTCTime(epochSeconds: UTCTime.epochSeconds(year: 2024, month: 12, day: 29, hour: 23))
        #expect((sunday.isoYear, sunday.isoWeek) == (2024, 52))
    }

    @Test func scheduleVerdicts() {
        func at(_ d: Int, _ h: Int, _ m: Int = 0) -> Int64 { UTCTime.epochSeconds(year: 2026, month: 11, day: d, hour: h, minute: m) }
        // daily: an earlier calendar day (UTC), not 24 hours.
        #expect(RotationSchedule.daily.verdict(lastRotated: at(25, 23, 59), now: at(26, 0, 1)) == .due)
        #expect(RotationSchedule.daily.verdict(lastRotated: at(25, 0, 1), now: at(25, 23, 59)) == .notDue)
        // hourly: a different hour.
        #expect(RotationSchedule.hourly.verdict(lastRotated: at(25, 10, 59), now: at(25, 11, 0)) == .due)
        #expect(RotationSchedule.hourly.verdict(lastRotated: at(25, 10, 0), now: at(25, 10, 59)) == .notDue)
        // weekly: the ISO week changed (Sunday 23:00 → Monday 01:00), or 7 days passed.
        #expect(RotationSchedule.weekly.verdict(lastRotated: at(29, 23), now: at(30, 1)) == .due)
        #expect(RotationSchedule.weekly.verdict(lastRotated: at(23, 1), now: at(29, 23)) == .notDue)
        #expect(RotationSchedule.weekly.verdict(lastRotated: at(16, 1), now: at(23, 1)) == .due)
        #expect(RotationSchedule.none.verdict(lastRotated: 0, now: at(30, 1)) == .notDue)
        #expect(RotationSchedule.daily.verdict(lastRotated: at(27, 1), now: at(26, 1)) == .lastRotationInFuture)
    }
}
