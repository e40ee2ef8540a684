import Foundation

/// A core/v1 Event about a pod, as Hydra records added interfaces and failures.
public struct PodEvent: Sendable {
    /// `Normal` or `Warning`, the two types the API server accepts.
    public enum EventType: String, Sendable {
        case normal = "Normal"
        case warning = "Warning"
    }

    public var podNamespace: String
    public var podName: String
    public var podUID: String
    public var type: EventType
    /// Short CamelCase cause, such as `AddedInterface` or `AttachFailed`.
    public var reason: String
    public var message: String
    /// The node name, sent as `source.host` and `reportingInstance`.
    public var node: String?
    public var count: Int
    public var firstTimestamp: Date
    public var lastTimestamp: Date

    public init(podNamespace: String, podName: String, podUID: String, type: EventType,
                reason: String, message: String, node: String? = nil, count: Int = 1,
                firstTimestamp: Date = Date(), lastTimestamp: Date? = nil) {
        self.podNamespace = podNamespace
        self.podName = podName
        self.podUID = podUID
        self.type = type
        self.reason = reason
        self.message = message
        self.node = node
        self.count = count
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = lastTimestamp ?? firstTimestamp
    }

    /// The component name in `source.component` and `reportingComponent`.
    public static let component = "hydra"

    /// Builds the JSON body of `POST /api/v1/namespaces/{ns}/events`. The
    /// name follows the kubelet's pattern `<pod>.<unique hex suffix>`.
    func requestBody() throws -> Data {
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        var source: [String: Any] = ["component": Self.component]
        if let node {
            source["host"] = node
        }
        var object: [String: Any] = [
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": ["name": "\(podName).\(suffix)", "namespace": podNamespace],
            "involvedObject": [
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": podNamespace,
                "name": podName,
                "uid": podUID,
            ],
            "reason": reason,
            "message": message,
            "type": type.rawValue,
            "source": source,
            // The Go field ReportingController is spelled reportingComponent in JSON.
            "reportingComponent": Self.component,
            "count": count,
            "firstTimestamp": Self.rfc3339(firstTimestamp),
            "lastTimestamp": Self.rfc3339(lastTimestamp),
        ]
        if let node {
            object["reportingInstance"] = node
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// Formats `date` as RFC 3339 in UTC with whole seconds, the format of
    /// metav1.Time.
    static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
