import EdgeLogTestKit
import Foundation

/// A scrape of `/metrics`, parsed: every sample line with its name, labels and value; `# TYPE` lines by name.
struct ScrapedMetrics {
    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    let text: String
    let samples: [Sample]
    let types: [String: String]

    init(_ text: String) {
        self.text = text
        var samples: [Sample] = []
        var types: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            let space = line.lastIndex(of: " ")!
            let series = line[..<space]
            let value = Double(line[line.index(after: space)...]) ?? .nan
            var labels: [String: String] = [:]
            var name = String(series)
            if let brace = series.firstIndex(of: "{") {
                name = String(series[..<brace])
                // Values in these tests hold no escaped quotes or commas.
                for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(
                    separator: ",")
                {
                    let eq = pair.firstIndex(of: "=")!
                    labels[String(pair[..<eq])] = String(
                        pair[pair.index(eq, offsetBy: 2)..<pair.index(before: pair.endIndex)])
                }
            }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        self.samples = samples
        self.types = types
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
    }

    /// GETs `/metrics` from 127.0.0.1:`port`.
    static func scrape(port: Int, path: String = "/metrics") async throws -> ScrapedMetrics {
        let response = try await TCPTestConnection.get(port: port, path)
        guard response.status == 200 else { throw ScrapeFailed(status: response.status) }
        return ScrapedMetrics(response.body)
    }
}

struct ScrapeFailed: Error {
    let status: Int
}
