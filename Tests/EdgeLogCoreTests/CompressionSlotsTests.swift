import EdgeLogTestKit
import Synchronization
import Testing

@testable import EdgeLogCore

@Suite struct CompressionSlotsTests {
    @Test func aThirdCompressionWaitsUntilASlotIsGivenBack() async throws {
        let slots = CompressionSlots(2)
        await slots.acquire()
        await slots.acquire()
        #expect(slots.available == 0)
        let acquired = Mutex(false)
        let waiter = Task {
            await slots.acquire()
            acquired.withLock { $0 = true }
        }
        // No slot is free, so the waiter cannot have one yet, however long it has run.
        #expect(acquired.withLock { $0 } == false)
        slots.release()
        try await eventually("the waiter takes the slot given back") { acquired.withLock { $0 } }
        await waiter.value
        #expect(slots.available == 0)
        slots.release()
        slots.release()
        #expect(slots.available == 2)
    }
}
