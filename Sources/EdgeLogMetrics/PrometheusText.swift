import EdgeLogCore

/// The Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` before each family's samples,
/// label values escaped (`\\`, `\"`, `\n`), histograms as cumulative `_bucket` lines ending in `le="+Inf"`, then
/// `_sum` and `_count`. Families without samples are left out.
public enum PrometheusText {
    /// The `Content-Type` of the rendering.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(_ snapshot: MetricsSnapshot) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 * snapshot.families.count)
        render(snapshot, into: &out)
        return out
    }

    public static func render(_ snapshot: MetricsSnapshot, into out: inout [UInt8]) {
        for family in snapshot.families where !family.isEmpty {
            out.append(contentsOf: "# HELP ".utf8)
            out.append(contentsOf: family.name.utf8)
            out.append(0x20)
            appendEscaped(family.help, quotes: false, to: &out)
            out.append(contentsOf: "\n# TYPE ".utf8)
            out.append(contentsOf: family.name.utf8)
            out.append(0x20)
            out.append(contentsOf: family.kind.rawValue.utf8)
            out.append(0x0A)
            for sample in family.samples {
                line(family.name, "", snapshot.commonLabels, sample.labels, nil, sample.value, &out)
            }
            for sample in family.histograms {
                let h = sample.histogram
                var cumulative = 0
                for (i, bound) in h.bounds.enumerated() {
                    cumulative += h.counts[i]
                    line(family.name, "_bucket", snapshot.commonLabels, sample.labels, bound, Double(cumulative), &out)
                }
                line(family.name, "_bucket", snapshot.commonLabels, sample.labels, .infinity, Double(h.count), &out)
                line(family.name, "_sum", snapshot.commonLabels, sample.labels, nil, h.sum, &out)
                line(family.name, "_count", snapshot.commonLabels, sample.labels, nil, Double(h.count), &out)
            }
        }
    }

    /// `name{common…,own…,le="bound"} value\n`
    private static func line(
        _ name: String, _ suffix: String, _ common: [(String, String)], _ own: [(String, String)], _ le: Double?,
        _ value: Double, _ out: inout [UInt8]
    ) {
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: suffix.utf8)
        var first = true
        func label(_ key: String, _ value: String) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(contentsOf: key.utf8)
            out.append(contentsOf: "=\"".utf8)
            appendEscaped(value, quotes: true, to: &out)
            out.append(UInt8(ascii: "\""))
        }
        for (k, v) in common { label(k, v) }
        for (k, v) in own { label(k, v) }
        if let le { label("le", format(le)) }
        if !first { out.append(UInt8(ascii: "}")) }
        out.append(0x20)
        out.append(contentsOf: format(value).utf8)
        out.append(0x0A)
    }

    /// `\` and newlines always; `"` in label values only (HELP text keeps its quotes).
    static func appendEscaped(_ text: String, quotes: Bool, to out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case UInt8(ascii: "\"") where quotes: out.append(contentsOf: [0x5C, 0x22])
            default: out.append(byte)
            }
        }
    }

    /// Whole numbers up to 2^53 without a fraction, `+Inf`, `-Inf`, `NaN`, else the shortest exact decimal (Go's
    /// `ParseFloat`, which Prometheus uses, reads Swift's `1e-05` form).
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) <= 9_007_199_254_740_992 { return String(Int64(value)) }
        return "\(value)"
    }
}
