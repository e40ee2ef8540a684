import Foundation

/// The Prometheus metric types Hydra exports.
enum MetricType: String, Sendable {
    case counter, gauge, histogram
}

/// One sample set: the value of a counter or gauge, or the sum, count and
/// per-bucket counts of a histogram.
struct MetricSample: Sendable {
    var value: Double = 0
    var count: UInt64 = 0
    /// Cumulative counts per bucket bound, in bound order.
    var bucketCounts: [UInt64] = []
}

/// A named metric with HELP and TYPE lines and its samples keyed by label values.
final class MetricFamily: @unchecked Sendable {
    let name: String
    let help: String
    let type: MetricType
    let labelNames: [String]
    let buckets: [Double]
    private let lock = NSLock()
    private var samples: [[String]: MetricSample] = [:]

    init(name: String, help: String, type: MetricType, labelNames: [String], buckets: [Double]) {
        self.name = name
        self.help = help
        self.type = type
        self.labelNames = labelNames
        self.buckets = buckets
    }

    /// Applies `change` to the sample with these label values, creating it at zero.
    func update(_ labels: [String], _ change: (inout MetricSample) -> Void) {
        precondition(labels.count == labelNames.count,
                     "metric \"\(name)\" takes labels \(labelNames), got \(labels.count) values")
        lock.withLock {
            var sample = samples[labels] ?? MetricSample()
            change(&sample)
            samples[labels] = sample
        }
    }

    func sample(_ labels: [String]) -> MetricSample? {
        lock.withLock { samples[labels] }
    }

    /// Appends the HELP, TYPE and sample lines of this family.
    func render(into text: inout String) {
        var snapshot = lock.withLock { samples }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        // A family without labels has exactly one sample, so it shows 0
        // before its first update, as Prometheus client libraries do.
        if snapshot.isEmpty && labelNames.isEmpty {
            snapshot = [([], MetricSample())]
        }
        text += "# HELP \(name) \(MetricFamily.escapeHelp(help))\n"
        text += "# TYPE \(name) \(type.rawValue)\n"
        for (labels, sample) in snapshot {
            let pairs = zip(labelNames, labels).map { ($0, $1) }
            switch type {
            case .counter, .gauge:
                text += "\(name)\(MetricFamily.labelText(pairs)) \(MetricFamily.format(sample.value))\n"
            case .histogram:
                for (index, bound) in buckets.enumerated() {
                    let count = index < sample.bucketCounts.count ? sample.bucketCounts[index] : 0
                    let le = pairs + [("le", MetricFamily.format(bound))]
                    text += "\(name)_bucket\(MetricFamily.labelText(le)) \(count)\n"
                }
                text += "\(name)_bucket\(MetricFamily.labelText(pairs + [("le", "+Inf")])) \(sample.count)\n"
                text += "\(name)_sum\(MetricFamily.labelText(pairs)) \(MetricFamily.format(sample.value))\n"
                text += "\(name)_count\(MetricFamily.labelText(pairs)) \(sample.count)\n"
            }
        }
    }

    /// Whether `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`, the Prometheus name syntax.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first else { return false }
        func isLetter(_ scalar: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_" || scalar == ":"
        }
        return isLetter(first) && name.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) }
    }

    /// `{a="1",b="2"}`, or nothing without labels. Values escape backslash, quote and newline.
    static func labelText(_ pairs: [(String, String)]) -> String {
        guard !pairs.isEmpty else { return "" }
        let body = pairs.map { name, value in
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
            return "\(name)=\"\(escaped)\""
        }
        return "{" + body.joined(separator: ",") + "}"
    }

    /// HELP text escapes backslash and newline only.
    static func escapeHelp(_ help: String) -> String {
        help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Integers without a fraction, other values in Swift's shortest round-trip form.
    static func format(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value.isNaN { return "NaN" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
