@testable import EdgeLogApp
import EdgeLogCore
import Testing

@Suite struct TwinHealthTests {
    /// The journal's entry in `health.sources.positions`: the units and how old the newest shipped entry is.
    @Test func theJournalPositionSaysHowOldTheNewestShippedEntryIs() throws {
        // t= is the entry's realtime timestamp in hex microseconds (here 2023-03-05T11:37:24Z).
        let cursor = "s=8a4d2f;i=2a;b=77e1;m=1b2c;t=5f6259a2cbc00;x=9f"
        let written: Int64 = 0x5f6259a2cbc00 / 1000
        let doc = TwinHealth.journalPosition(
            key: "journal", cursor: cursor, units: ["aziot-edged.service"], nowMillis: written + 90_500)
        #expect(doc["kind"]?.stringValue == "journal")
        #expect(doc["units"] == .array([.string("aziot-edged.service")]))
        #expect(doc["committedEntryAgeSeconds"]?.intValue == 90)
        #expect(doc["committedEntryTime"]?.stringValue == TwinHealth.rfc3339(millis: written))
        #expect(doc["committedEntryTime"]?.stringValue?.hasPrefix("2023-") == true)
        // No filter: every unit; a cursor without t=: no age rather than a wrong one.
        let bare = TwinHealth.journalPosition(key: "journal", cursor: "s=1;i=2", units: [], nowMillis: 0)
        #expect(bare["units"]?.stringValue == "all")
        #expect(bare["committedEntryAgeSeconds"] == nil)
    }
}
