import EdgeLogCore

/// Every metric at one moment, ready to render: a value, not a registry. Built per scrape from the counters
/// and the pipeline's state, rendered by `PrometheusText`.
public struct MetricsSnapshot: Sendable {
    /// Labels every sample carries, before its own (`iothub`, `edge_device`, `instance_number`).
    public var commonLabels: [(String, String)]
    /// In the order they are rendered.
    public var families: [MetricFamily] = []

    public init(commonLabels: [(String, String)]) {
        self.commonLabels = commonLabels
    }

    /// Adds a counter (or a gauge, with `kind`) with one unlabelled sample.
    public mutating func add(_ kind: MetricFamily.Kind, _ name: String, _ help: String, _ value: Double) {
        families.append(MetricFamily(name: name, help: help, kind: kind, samples: [MetricSample(value: value)]))
    }

    /// Adds a family of labelled samples.
    public mutating func add(_ kind: MetricFamily.Kind, _ name: String, _ help: String, samples: [MetricSample]) {
        families.append(MetricFamily(name: name, help: help, kind: kind, samples: samples))
    }

    /// Adds a histogram family.
    public mutating func add(histogram name: String, _ help: String, _ histograms: [HistogramSample]) {
        families.append(MetricFamily(name: name, help: help, kind: .histogram, histograms: histograms))
    }
}

/// One metric: its name, help text, type and samples.
public struct MetricFamily: Sendable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    public var name: String
    public var help: String
    public var kind: Kind
    /// The samples of a counter or gauge.
    public var samples: [MetricSample]
    /// The samples of a histogram.
    public var histograms: [HistogramSample]

    public init(
        name: String, help: String, kind: Kind, samples: [MetricSample] = [], histograms: [HistogramSample] = []
    ) {
        self.name = name
        self.help = help
        self.kind = kind
        self.samples = samples
        self.histograms = histograms
    }

    var isEmpty: Bool { samples.isEmpty && histograms.isEmpty }
}

/// A value with its own labels (the common ones come first).
public struct MetricSample: Sendable {
    public var labels: [(String, String)]
    public var value: Double

    public init(labels: [(String, String)] = [], value: Double) {
        self.labels = labels
        self.value = value
    }
}

/// A histogram with its own labels: buckets, sum and count.
public struct HistogramSample: Sendable {
    public var labels: [(String, String)]
    public var histogram: Histogram

    public init(labels: [(String, String)] = [], histogram: Histogram) {
        self.labels = labels
        self.histogram = histogram
    }
}
