import EdgeLogCore
import EdgeLogTestKit
import Testing
@testable import EdgeLogTwin

@Suite struct WorkloadClientTests {
    @Test func signsAndFetchesTheTrustBundleRetryingWhenRefused() async throws {
        let dir = TemporaryDirectory()
        let key = Array("module key".utf8)
        let server = try await WorkloadServer(socketPath: dir.file("workload.sock"), key: key, trustPEM: "PEM", refuseFirst: 3)
        let client = WorkloadClient(
            socketPath: dir.file("workload.sock"), moduleId: "edgelog", generationId: "gen1",
            backoff: Backoff(initial: .milliseconds(10), maximum: .milliseconds(50)))
        let token = try await client.token(resourceURI: "hub/devices/d/modules/edgelog", expiry: 100)
        let expected = Base64.encode(HMACSHA256.authenticate(Array("hub%2Fdevices%2Fd%2Fmodules%2Fedgelog\n100".utf8), key: key))
        #expect(token.token == "SharedAccessSignature sr=hub%2Fdevices%2Fd%2Fmodules%2Fedgelog&sig=\(PercentEncoding.encode(expected))&se=100")
        #expect(try await client.trustBundle() == Array("PEM".utf8))
        // Many at once: at most 10 in flight, all answered.
        try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<25 { group.addTask { try await client.sign(Array("m\(i)".utf8)) } }
            var n = 0
            for try await _ in group { n += 1 }
            #expect(n == 25)
        }
        #expect(server.signed.count == 26)
        await server.close()
    }

    @Test func aMissingSocketFailsAfterRetries() async {
        let client = WorkloadClient(
            socketPath: "/nonexistent/workload.sock", moduleId: "m", generationId: "g", attempts: 2,
            backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(2)))
        await #expect(throws: WorkloadClient.Failure.self) { _ = try await client.trustBundle() }
    }
}
