@testable import EdgeLogMetrics
import Testing

@Suite struct ConnectionSlotsTests {
    @Test func admitsUntilFullThenClosesTheConnectionLongestInItsPhase() {
        var slots = ConnectionSlots(limit: 3)
        #expect(slots.admit(1, loopback: false, now: 10) == .admit)
        #expect(slots.admit(2, loopback: false, now: 20) == .admit)
        #expect(slots.admit(3, loopback: false, now: 30) == .admit)
        // 1 answered at 40 and waits again since then: 2 is now the longest in its phase.
        slots.enter(1, .answering, now: 35)
        slots.enter(1, .waiting, now: 40)
        #expect(slots.admit(4, loopback: false, now: 50) == .admitEvicting(2))
        #expect(slots.count == 3)
        #expect(slots.entries[2] == nil)
        // A connection stuck answering (its client takes nothing) is as evictable as a slow one.
        slots.enter(3, .answering, now: 31)
        #expect(slots.admit(5, loopback: false, now: 60) == .admitEvicting(3))
    }

    @Test func loopbackConnectionsAreNeverClosedForOthers() {
        var slots = ConnectionSlots(limit: 2)
        #expect(slots.admit(1, loopback: true, now: 1) == .admit)
        #expect(slots.admit(2, loopback: false, now: 2) == .admit)
        // A remote newcomer takes the remote slot, never the older loopback one.
        #expect(slots.admit(3, loopback: false, now: 3) == .admitEvicting(2))
        #expect(slots.admit(4, loopback: true, now: 4) == .admitEvicting(1))
        // Every slot held by loopback: a remote newcomer is refused, a loopback one still gets in.
        #expect(slots.admit(5, loopback: false, now: 5) == .admitEvicting(3))
        #expect(slots.admit(6, loopback: true, now: 6) == .admitEvicting(4))
        #expect(slots.admit(7, loopback: false, now: 7) == .admitEvicting(5))
        var full = ConnectionSlots(limit: 1)
        #expect(full.admit(1, loopback: true, now: 1) == .admit)
        #expect(full.admit(2, loopback: false, now: 2) == .refuse)
        #expect(full.admit(3, loopback: true, now: 3) == .admitEvicting(1))
    }

    @Test func aClosedConnectionFreesItsSlot() {
        var slots = ConnectionSlots(limit: 1)
        #expect(slots.admit(1, loopback: false, now: 1) == .admit)
        slots.remove(1)
        #expect(slots.admit(2, loopback: false, now: 2) == .admit)
    }
}
