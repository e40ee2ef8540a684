import Foundation

/// The metric families of one process, rendered in the Prometheus text
/// exposition format (version 0.0.4). Families are registered once; their
/// samples are updated from any thread.
public final class MetricsRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var families: [MetricFamily] = []
    private var collectors: [@Sendable () -> Void] = []

    public init() {}

    /// Registers a counter family. Names follow Prometheus conventions and end in `_total`.
    public func counter(_ name: String, help: String, labels: [String] = []) -> CounterFamily {
        CounterFamily(register(name: name, help: help, type: .counter, labels: labels, buckets: []))
    }

    /// Registers a gauge family.
    public func gauge(_ name: String, help: String, labels: [String] = []) -> GaugeFamily {
        GaugeFamily(register(name: name, help: help, type: .gauge, labels: labels, buckets: []))
    }

    /// Registers a histogram family with the given upper bucket bounds
    /// (ascending; the `+Inf` bucket is implicit).
    public func histogram(_ name: String, help: String, labels: [String] = [],
                          buckets: [Double] = HistogramFamily.latencySeconds) -> HistogramFamily {
        HistogramFamily(register(name: name, help: help, type: .histogram, labels: labels,
                                 buckets: buckets.sorted()))
    }

    /// Adds a function run before each rendering, to copy values that live
    /// elsewhere (connection state, queue depth) into gauges. It runs on the
    /// rendering thread and must not block.
    public func addCollector(_ collector: @escaping @Sendable () -> Void) {
        lock.withLock { collectors.append(collector) }
    }

    /// Renders every family in the text exposition format, families in
    /// registration order and samples sorted by label values.
    public func render() -> String {
        let (families, collectors) = lock.withLock { (self.families, self.collectors) }
        for collector in collectors {
            collector()
        }
        var text = ""
        for family in families {
            family.render(into: &text)
        }
        return text
    }

    private func register(name: String, help: String, type: MetricType, labels: [String],
                          buckets: [Double]) -> MetricFamily {
        precondition(MetricFamily.isValidName(name), "invalid metric name \"\(name)\"")
        for label in labels {
            precondition(MetricFamily.isValidName(label) && label != "le", "invalid label name \"\(label)\"")
        }
        return lock.withLock {
            precondition(!families.contains { $0.name == name }, "metric \"\(name)\" registered twice")
            let family = MetricFamily(name: name, help: help, type: type, labelNames: labels, buckets: buckets)
            families.append(family)
            return family
        }
    }
}

/// A counter family: monotonically increasing totals, one per label set.
public struct CounterFamily: Sendable {
    let family: MetricFamily
    init(_ family: MetricFamily) { self.family = family }

    /// Adds `amount` (default 1) to the sample with these label values, given in registration order.
    public func increment(_ labels: [String] = [], by amount: Double = 1) {
        precondition(amount >= 0, "a counter cannot decrease")
        family.update(labels) { $0.value += amount }
    }

    /// Raises the sample to `total` when a counter kept elsewhere (a total since start-up) has grown.
    public func set(_ labels: [String] = [], total: Double) {
        family.update(labels) { $0.value = max($0.value, total) }
    }

    /// The current value of the sample, 0 when it was never touched.
    public func value(_ labels: [String] = []) -> Double { family.sample(labels)?.value ?? 0 }
}

/// A gauge family: values that go up and down, one per label set.
public struct GaugeFamily: Sendable {
    let family: MetricFamily
    init(_ family: MetricFamily) { self.family = family }

    /// Sets the sample with these label values.
    public func set(_ labels: [String], _ value: Double) {
        family.update(labels) { $0.value = value }
    }

    /// Sets the sample of a family without labels.
    public func set(_ value: Double) {
        set([], value)
    }

    /// The current value of the sample, 0 when it was never set.
    public func value(_ labels: [String] = []) -> Double { family.sample(labels)?.value ?? 0 }
}

/// A histogram family: observations counted into cumulative buckets.
public struct HistogramFamily: Sendable {
    /// Bucket bounds in seconds for operations from a millisecond to the
    /// runtime's request timeout and beyond.
    public static let latencySeconds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                   1, 2, 5, 10, 30]

    let family: MetricFamily
    init(_ family: MetricFamily) { self.family = family }

    /// Records one observation (seconds for latency histograms).
    public func observe(_ labels: [String] = [], _ value: Double) {
        let bounds = family.buckets
        family.update(labels) { sample in
            if sample.bucketCounts.isEmpty {
                sample.bucketCounts = Array(repeating: 0, count: bounds.count)
            }
            for (index, bound) in bounds.enumerated() where value <= bound {
                sample.bucketCounts[index] += 1
            }
            sample.count += 1
            sample.value += value
        }
    }

    /// The number of observations with these label values.
    public func count(_ labels: [String] = []) -> UInt64 { family.sample(labels)?.count ?? 0 }
}
