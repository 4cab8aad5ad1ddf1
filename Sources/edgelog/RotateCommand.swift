import ArgumentParser

/// `edgelog rotate` (placeholder until the rotation engine lands).
struct Rotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One rotation pass over the configured files.")
    func run() async throws {}
}
