import EdgeLogCore
import EdgeLogMetrics
import Testing

@Suite struct PrometheusTextTests {
    let common = [("iothub", "hub.azure-devices.net"), ("edge_device", "dev1"), ("instance_number", "0f1e")]

    func render(_ snapshot: MetricsSnapshot) -> String {
        String(decoding: PrometheusText.render(snapshot), as: UTF8.self)
    }

    @Test func helpTypeAndSamplesWithTheCommonLabelsFirst() {
        var m = MetricsSnapshot(commonLabels: common)
        m.add(
            .counter, "edgelog_records_read_total", "Records read, by source.",
            samples: [
                MetricSample(labels: [("source", "docker")], value: 12),
                MetricSample(labels: [("source", "journal")], value: 0),
            ])
        m.add(.gauge, "edgelog_spool_oldest_age_seconds", "Age.", 2.5)
        #expect(
            render(m) == """
                # HELP edgelog_records_read_total Records read, by source.
                # TYPE edgelog_records_read_total counter
                edgelog_records_read_total{iothub="hub.azure-devices.net",edge_device="dev1",instance_number="0f1e",source="docker"} 12
                edgelog_records_read_total{iothub="hub.azure-devices.net",edge_device="dev1",instance_number="0f1e",source="journal"} 0
                # HELP edgelog_spool_oldest_age_seconds Age.
                # TYPE edgelog_spool_oldest_age_seconds gauge
                edgelog_spool_oldest_age_seconds{iothub="hub.azure-devices.net",edge_device="dev1",instance_number="0f1e"} 2.5

                """)
    }

    @Test func labelValuesAndHelpAreEscaped() {
        var m = MetricsSnapshot(commonLabels: [("iothub", #"a\b"c"#)])
        m.add(
            .gauge, "x", "Line one\nline \"two\" with a \\ backslash",
            samples: [MetricSample(labels: [("container", "multi\nline")], value: 1)])
        let lines = render(m).split(separator: "\n", omittingEmptySubsequences: false)
        // HELP: backslash and newline escaped, quotes kept as they are.
        #expect(lines[0] == #"# HELP x Line one\nline "two" with a \\ backslash"#)
        #expect(lines[2] == #"x{iothub="a\\b\"c",container="multi\nline"} 1"#)
        #expect(lines.count == 4 && lines[3].isEmpty)
    }

    @Test func histogramBucketsAreCumulativeWithInfSumAndCount() {
        var h = Histogram(bounds: [0.125, 1, 10])
        for v in [0.0625, 0.125, 0.5, 0.75, 3, 42] { h.observe(v) }
        #expect(h.counts == [2, 2, 1, 1])
        var m = MetricsSnapshot(commonLabels: [("edge_device", "d")])
        m.add(histogram: "edgelog_upload_duration_seconds", "Call time.", [HistogramSample(histogram: h)])
        #expect(
            render(m) == """
                # HELP edgelog_upload_duration_seconds Call time.
                # TYPE edgelog_upload_duration_seconds histogram
                edgelog_upload_duration_seconds_bucket{edge_device="d",le="0.125"} 2
                edgelog_upload_duration_seconds_bucket{edge_device="d",le="1"} 4
                edgelog_upload_duration_seconds_bucket{edge_device="d",le="10"} 5
                edgelog_upload_duration_seconds_bucket{edge_device="d",le="+Inf"} 6
                edgelog_upload_duration_seconds_sum{edge_device="d"} 46.4375
                edgelog_upload_duration_seconds_count{edge_device="d"} 6

                """)
    }

    @Test func emptyHistogramStillHasEveryBucket() {
        var m = MetricsSnapshot(commonLabels: [])
        m.add(histogram: "h", "H.", [HistogramSample(histogram: Histogram(bounds: [1]))])
        #expect(
            render(m)
                == "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"
        )
    }

    @Test func familiesWithoutSamplesAreLeftOut() {
        var m = MetricsSnapshot(commonLabels: common)
        m.add(.counter, "edgelog_upload_requests_total", "Calls.", samples: [])
        m.add(.gauge, "g", "G.", 1)
        let text = render(m)
        #expect(!text.contains("edgelog_upload_requests_total"))
        #expect(text.hasPrefix("# HELP g G.\n"))
    }

    @Test func numbers() {
        var m = MetricsSnapshot(commonLabels: [])
        for (i, v) in [0, -3, 1e20, 0.000_01, Double.infinity, -Double.infinity, Double.nan, 123_456_789_012]
            .enumerated()
        {
            m.add(.gauge, "n\(i)", "N.", v)
        }
        let values = render(m).split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ")[1] }
        #expect(values == ["0", "-3", "1e+20", "1e-05", "+Inf", "-Inf", "NaN", "123456789012"])
    }
}
