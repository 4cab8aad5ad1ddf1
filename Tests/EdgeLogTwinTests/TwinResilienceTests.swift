import EdgeLogApp
import EdgeLogCore
import EdgeLogTestKit
import EdgeLogTwin
import Foundation
import Logging
import Synchronization
import Testing

/// Desired properties that cannot be applied, documents too large to look at, and direct methods that could
/// be abused: over the real mosquitto test broker with the hub peer, against the real supervisor.
@Suite(.serialized) struct TwinResilienceTests {
    typealias Edge = TwinServiceTests.Edge

    /// A valid document whose sink cannot be built (a header from a variable that is not set): reported
    /// `rejected` with the reason, the configuration in force keeps shipping, the refused one is retried (and
    /// stays refused), and a later patch replaces it.
    @Test func aPatchThatCannotBeBuiltIsRejectedAndTheOldConfigurationKeepsRunning() async throws {
        let edge = try await Edge(initialDesired: .object([]))
        let hub = edge.hub
        try await eventually("version 1 applied") { edge.reportedConfig("desiredVersion") == .int(1) }
        try await eventually("a pipeline") { edge.supervisor.pipeline != nil }
        let pipeline = try #require(edge.supervisor.pipeline)
        try edge.container.log(["before"])
        try await eventually("shipped") { edge.shipped() == ["before"] }

        try await hub.pushDesired(
            try JSONParser.parse(
                #"{"sink":{"type":"http","url":"http://127.0.0.1:9/collect?token=never-in-reports","headersFromEnvironment":{"Authorization":"EDGELOG_TEST_VARIABLE_NOT_SET"}}}"#
            ))
        try await eventually("version 2 handled") { edge.reportedConfig("desiredVersion") == .int(2) }
        #expect(edge.reportedConfig("status") == .string("rejected"))
        let errors = try #require(edge.reportedConfig("errors")?.objectValue)
        let error = try #require(errors.first?.1)
        #expect(error["path"] == .string("sink.headersFromEnvironment.Authorization"))
        #expect(error["problem"]?.stringValue?.contains("EDGELOG_TEST_VARIABLE_NOT_SET") == true)
        // Both configurations in the twin: the one in force, and the refused one with its next try.
        #expect(edge.reportedConfig("inForce")?["origin"] == .string("desired"))
        #expect(edge.reportedConfig("inForce")?["desiredVersion"] == .int(1))
        #expect(edge.reportedConfig("pending")?["desiredVersion"] == .int(2))

        // The old configuration is in force and ships; the pipeline was never stopped.
        #expect(edge.supervisor.configuration.sink.type == .file)
        #expect(edge.supervisor.pipeline === pipeline)
        try edge.container.log(["after the refused patch"])
        try await eventually("shipped under the old configuration") { edge.shipped() == ["before", "after the refused patch"] }
        // Tried again (and refused again: the variable does not appear in a running process).
        try await eventually("retried") { (edge.supervisor.pending?.attempts ?? 0) >= 2 }
        #expect(edge.supervisor.pipeline === pipeline)
        #expect(!hub.reported.serialized().contains("never-in-reports"))

        // A newer patch replaces it: the sink key removed, the file's sink again.
        try await hub.pushDesired(try JSONParser.parse(#"{"sink":null,"batch":{"flushIntervalSeconds":0.1}}"#))
        try await eventually("version 3 applied") {
            edge.reportedConfig("desiredVersion") == .int(3) && edge.reportedConfig("status") == .string("applied")
        }
        #expect(edge.reportedConfig("errors") == nil)
        #expect(edge.reportedConfig("pending") == nil)
        #expect(edge.supervisor.pending == nil)
        try await eventually("the new pipeline") { edge.supervisor.pipeline?.configuration.batch.flushIntervalSeconds == 0.1 }
        try await edge.stop()
    }

    /// A patch that needs a file which is not there yet (`sink.caFile`) is refused, retried, and applied once
    /// the file appears; the twin then reports it applied.
    @Test func aRefusedPatchIsAppliedOnceItCanBeBuilt() async throws {
        let edge = try await Edge(initialDesired: .object([]))
        try await eventually("version 1 applied") { edge.reportedConfig("desiredVersion") == .int(1) }
        let caFile = edge.dir.path + "/later/ca.pem"
        try await edge.hub.pushDesired(
            try JSONParser.parse(
                #"{"sink":{"type":"http","url":"http://127.0.0.1:9/collect","caFile":"\#(caFile)"}}"#))
        try await eventually("version 2 rejected") {
            edge.reportedConfig("desiredVersion") == .int(2) && edge.reportedConfig("status") == .string("rejected")
        }
        #expect(edge.supervisor.configuration.sink.type == .file)
        #expect(edge.reportedConfig("errors")?.objectValue?.first?.1["path"] == .string("sink.caFile"))

        _ = try edge.dir.makeDirectory("later")
        try FileManager.default.copyItem(atPath: edge.certificates.caFile, toPath: caFile)
        try await eventually("applied by a retry") { edge.supervisor.configuration.sink.type == .http }
        try await eventually("reported applied") {
            edge.reportedConfig("status") == .string("applied") && edge.reportedConfig("errors") == nil
                && edge.reportedConfig("pending") == nil
        }
        #expect(edge.reportedConfig("desiredVersion") == .int(2))
        #expect(edge.twin.appliedVersion == 2)
        try await edge.stop()
    }

    /// A desired `metrics.port` that cannot be bound is refused; the listener in force keeps answering. Once the
    /// port is free, a retry moves the listener there.
    @Test func aListenerThatCannotBindIsRefusedAndTheOldOneKeepsServing() async throws {
        let (first, second) = (try freePort(), try freePort())
        let edge = try await Edge(
            initialDesired: try JSONParser.parse(#"{"metrics":{"host":"127.0.0.1","port":\#(first)}}"#))
        try await eventually("version 1 applied") { edge.reportedConfig("desiredVersion") == .int(1) }
        let collector = MetricsCollector(
            supervisor: edge.supervisor, counters: edge.supervisor.counters, twin: edge.twin,
            host: HostIdentity(computer: "c", deviceId: "device1", iotHub: "testhub.azure-devices.net"))
        let metrics = MetricsService(supervisor: edge.supervisor, collector: collector, logger: Logger(label: "metrics"))
        let serving = Task { try await metrics.run() }
        try await eventually("served on the first port") {
            (try? await TCPTestConnection.get(port: first, "/healthz"))?.status == 200
        }
        let taken = try Listener(port: second)
        try await edge.hub.pushDesired(try JSONParser.parse(#"{"metrics":{"port":\#(second)}}"#))
        try await eventually("version 2 rejected") {
            edge.reportedConfig("desiredVersion") == .int(2) && edge.reportedConfig("status") == .string("rejected")
        }
        #expect(edge.reportedConfig("errors")?.objectValue?.first?.1["path"] == .string("metrics.port"))
        #expect(try await TCPTestConnection.get(port: first, "/healthz").status == 200)
        #expect(edge.supervisor.configuration.metrics.port == Int64(first))

        taken.close()
        try await eventually("moved once the port is free") {
            (try? await TCPTestConnection.get(port: second, "/healthz"))?.status == 200
        }
        try await eventually("reported applied") { edge.reportedConfig("status") == .string("applied") }
        #expect((try? TCPTestConnection(port: first)) == nil)
        serving.cancel()
        _ = try? await serving.value
        try await edge.stop()
    }

    /// A desired document of 3,000 members is refused before it is validated or kept; the next patch makes the
    /// module get the whole twin again, and once the document is small again it applies.
    @Test func anOversizedDesiredDocumentIsRefused() async throws {
        let edge = try await Edge(initialDesired: .object([]))
        try await eventually("version 1 applied") { edge.reportedConfig("desiredVersion") == .int(1) }
        let junk = JSONValue.object((0..<3000).map { ("k\($0)", JSONValue.int(Int64($0))) })
        try await edge.hub.pushDesired(.object([("junk", junk)]))
        try await eventually("version 2 rejected") {
            edge.reportedConfig("desiredVersion") == .int(2) && edge.reportedConfig("status") == .string("rejected")
        }
        let error = try #require(edge.reportedConfig("errors")?.objectValue?.first?.1)
        #expect(error["problem"]?.stringValue?.contains("3001 members") == true)
        #expect(edge.supervisor.pipeline != nil)

        let gets = edge.hub.gets
        try await edge.hub.pushDesired(.object([("junk", .null), ("batch", .object([("flushIntervalSeconds", .double(0.2))]))]))
        try await eventually("version 3 applied") {
            edge.reportedConfig("desiredVersion") == .int(3) && edge.reportedConfig("status") == .string("applied")
        }
        #expect(edge.hub.gets > gets, "the whole twin was asked for again")
        #expect(edge.supervisor.configuration.batch.flushIntervalSeconds == 0.2)
        try await edge.stop()
    }

    /// `getRecentLogs` measures its answer as sent: lines of control characters (six bytes each once escaped)
    /// are cut so the payload stays within 128 KB.
    @Test func recentLogsFitAfterEncoding() async throws {
        let line = String(repeating: "\u{01}", count: 2000)
        let edge = try await Edge(initialDesired: .object([]), recentLogs: { n in Array(repeating: line, count: n) })
        try await eventually("connected") { edge.reportedConfig("desiredVersion") == .int(1) }
        let answer = try await edge.hub.callMeasured("getRecentLogs", try JSONParser.parse(#"{"lines":1000}"#))
        #expect(answer.status == 200)
        #expect(answer.bytes <= 128_000)
        let lines = try #require(answer.payload["lines"]?.arrayValue)
        #expect(lines.count == 10, "as many whole lines as fit: 10 × 12,002 bytes")
        #expect(lines.allSatisfy { $0 == .string(line) })
        try await edge.stop()
    }

    /// `rotateNow` runs one pass at a time (a second call meanwhile is refused at once, and the twin keeps
    /// answering), then not again before the minimum interval.
    @Test func rotateNowRunsOnePassAtATimeAndNotTooOften() async throws {
        let gate = Gate()
        let edge = try await Edge(
            initialDesired: .object([]),
            rotateNow: { _ in
                await gate.enter()
                return .object([("rotations", .int(1))])
            }, rotateNowInterval: .seconds(3600))
        try await eventually("connected") { edge.reportedConfig("desiredVersion") == .int(1) }
        let hub = edge.hub
        let first = Task { try await hub.call("rotateNow") }
        try await eventually("the first pass under way") { gate.entered }
        let second = try await hub.call("rotateNow")
        #expect(second.status == 429)
        #expect(second.payload["message"]?.stringValue?.contains("under way") == true)
        #expect(try await hub.call("getStatus").status == 200)
        gate.open()
        #expect(try await first.value.status == 200)
        let third = try await hub.call("rotateNow")
        #expect(third.status == 429)
        #expect((third.payload["retryAfterSeconds"]?.intValue ?? 0) > 3500)
        #expect(gate.passes == 1)
        try await edge.stop()
    }
}

/// Holds a caller until `open()`.
final class Gate: Sendable {
    private let state = Mutex<(entered: Int, open: Bool, waiters: [CheckedContinuation<Void, Never>])>((0, false, []))
    var entered: Bool { state.withLock { $0.entered > 0 } }
    var passes: Int { state.withLock { $0.entered } }

    func enter() async {
        await withCheckedContinuation { c in
            let now = state.withLock { s -> Bool in
                s.entered += 1
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
}

/// A TCP listener on 127.0.0.1:`port` that accepts nothing: the port is taken while it is open.
final class Listener: @unchecked Sendable {
    private var fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            Glibc.close(fd)
            throw HarnessError("cannot listen on \(port): errno \(errno)")
        }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}
