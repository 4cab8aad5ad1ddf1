import EdgeLogCore
import Testing

@testable import EdgeLogApp

/// A sink whose upstream truncates long fields (Logs Ingestion: 64 KB) makes the sources cut messages there
/// themselves, so the cut is counted instead of silent.
@Suite struct FieldCapTests {
    @Test func sourcesCutMessagesAtTheSinksFieldLimit() {
        var configuration = Configuration()
        configuration.journal.enabled = true
        let (docker, journal) = Application.sourceSettings(configuration, maxFieldBytes: 64_000)
        #expect(docker.maxMessageBytes == 64_000)
        #expect(journal.maxFieldBytes == 64_000)
        #expect(journal.enabled)

        configuration.docker.maxMessageBytes = 10_000
        let (smaller, _) = Application.sourceSettings(configuration, maxFieldBytes: 64_000)
        #expect(smaller.maxMessageBytes == 10_000)

        let (unchanged, unchangedJournal) = Application.sourceSettings(configuration, maxFieldBytes: nil)
        #expect(unchanged == configuration.docker)
        #expect(unchangedJournal == configuration.journal)
    }
}
