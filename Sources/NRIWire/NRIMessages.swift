import CProtobufC
import NRIProto

/// Service and method names of the NRI API (nri.pkg.api.v1alpha1).
public enum NRIService {
    public static let runtime = "nri.pkg.api.v1alpha1.Runtime"
    public static let plugin = "nri.pkg.api.v1alpha1.Plugin"
}

/// NRI lifecycle events, as numbered in the API's `Event` enum.
public enum NRIEvent: Int32, Sendable, CaseIterable {
    case unknown = 0
    case runPodSandbox = 1
    case stopPodSandbox = 2
    case removePodSandbox = 3
    case createContainer = 4
    case postCreateContainer = 5
    case startContainer = 6
    case postStartContainer = 7
    case updateContainer = 8
    case postUpdateContainer = 9
    case stopContainer = 10
    case removeContainer = 11
    case updatePodSandbox = 12
    case postUpdatePodSandbox = 13
    case validateContainerAdjustment = 14

    /// The event's bit in ConfigureResponse.events.
    public var maskBit: Int32 { rawValue == 0 ? 0 : 1 << (rawValue - 1) }

    /// The subscription mask for a set of events.
    public static func mask(_ events: [NRIEvent]) -> Int32 {
        events.reduce(0) { $0 | $1.maskBit }
    }
}

public struct RegisterPluginRequest: Sendable, Equatable {
    public var pluginName: String
    /// Two decimal digits; plugins are called in ascending index order.
    public var pluginIndex: String
    public var nriVersion: String

    public init(pluginName: String, pluginIndex: String, nriVersion: String = "") {
        self.pluginName = pluginName
        self.pluginIndex = pluginIndex
        self.nriVersion = nriVersion
    }

    public init(decoding bytes: [UInt8]) throws {
        self = try unpackMessage(bytes, name: "RegisterPluginRequest",
                                 unpack: nri__pkg__api__v1alpha1__register_plugin_request__unpack,
                                 free: nri__pkg__api__v1alpha1__register_plugin_request__free_unpacked) {
            RegisterPluginRequest(pluginName: swiftString($0.pointee.plugin_name),
                                  pluginIndex: swiftString($0.pointee.plugin_idx),
                                  nriVersion: swiftString($0.pointee.nri_version))
        }
    }

    public func encoded() -> [UInt8] {
        let arena = CArena()
        var message = Nri__Pkg__Api__V1alpha1__RegisterPluginRequest()
        nri__pkg__api__v1alpha1__register_plugin_request__init(&message)
        message.plugin_name = arena.string(pluginName)
        message.plugin_idx = arena.string(pluginIndex)
        message.nri_version = arena.string(nriVersion)
        return withUnsafePointer(to: &message) {
            packMessage($0, size: nri__pkg__api__v1alpha1__register_plugin_request__get_packed_size,
                        pack: nri__pkg__api__v1alpha1__register_plugin_request__pack)
        }
    }
}

public struct ConfigureRequest: Sendable, Equatable {
    /// Plugin-specific configuration from the runtime's NRI configuration.
    public var config: String
    public var runtimeName: String
    public var runtimeVersion: String
    /// Milliseconds; 0 when the runtime sends none (before NRI v0.8).
    public var registrationTimeoutMilliseconds: Int64
    /// Milliseconds; 0 when the runtime sends none (before NRI v0.8).
    public var requestTimeoutMilliseconds: Int64
    public var nriVersion: String

    public init(config: String = "", runtimeName: String = "", runtimeVersion: String = "",
                registrationTimeoutMilliseconds: Int64 = 0, requestTimeoutMilliseconds: Int64 = 0,
                nriVersion: String = "") {
        self.config = config
        self.runtimeName = runtimeName
        self.runtimeVersion = runtimeVersion
        self.registrationTimeoutMilliseconds = registrationTimeoutMilliseconds
        self.requestTimeoutMilliseconds = requestTimeoutMilliseconds
        self.nriVersion = nriVersion
    }

    public init(decoding bytes: [UInt8]) throws {
        self = try unpackMessage(bytes, name: "ConfigureRequest",
                                 unpack: nri__pkg__api__v1alpha1__configure_request__unpack,
                                 free: nri__pkg__api__v1alpha1__configure_request__free_unpacked) {
            let message = $0.pointee
            return ConfigureRequest(config: swiftString(message.config),
                                    runtimeName: swiftString(message.runtime_name),
                                    runtimeVersion: swiftString(message.runtime_version),
                                    registrationTimeoutMilliseconds: message.registration_timeout,
                                    requestTimeoutMilliseconds: message.request_timeout,
                                    nriVersion: swiftString(message.nri_version))
        }
    }

    public func encoded() -> [UInt8] {
        let arena = CArena()
        var message = Nri__Pkg__Api__V1alpha1__ConfigureRequest()
        nri__pkg__api__v1alpha1__configure_request__init(&message)
        message.config = arena.string(config)
        message.runtime_name = arena.string(runtimeName)
        message.runtime_version = arena.string(runtimeVersion)
        message.registration_timeout = registrationTimeoutMilliseconds
        message.request_timeout = requestTimeoutMilliseconds
        message.nri_version = arena.string(nriVersion)
        return withUnsafePointer(to: &message) {
            packMessage($0, size: nri__pkg__api__v1alpha1__configure_request__get_packed_size,
                        pack: nri__pkg__api__v1alpha1__configure_request__pack)
        }
    }
}

public struct ConfigureResponse: Sendable, Equatable {
    /// Subscription mask, one bit per `NRIEvent`. 0 subscribes to every
    /// event, so Hydra never sends 0.
    public var events: Int32
    public var requestTimeoutMilliseconds: Int64

    public init(events: Int32, requestTimeoutMilliseconds: Int64 = 0) {
        self.events = events
        self.requestTimeoutMilliseconds = requestTimeoutMilliseconds
    }

    public init(decoding bytes: [UInt8]) throws {
        self = try unpackMessage(bytes, name: "ConfigureResponse",
                                 unpack: nri__pkg__api__v1alpha1__configure_response__unpack,
                                 free: nri__pkg__api__v1alpha1__configure_response__free_unpacked) {
            ConfigureResponse(events: $0.pointee.events, requestTimeoutMilliseconds: $0.pointee.request_timeout)
        }
    }

    public func encoded() -> [UInt8] {
        var message = Nri__Pkg__Api__V1alpha1__ConfigureResponse()
        nri__pkg__api__v1alpha1__configure_response__init(&message)
        message.events = events
        message.request_timeout = requestTimeoutMilliseconds
        return withUnsafePointer(to: &message) {
            packMessage($0, size: nri__pkg__api__v1alpha1__configure_response__get_packed_size,
                        pack: nri__pkg__api__v1alpha1__configure_response__pack)
        }
    }
}

/// A container as listed in Synchronize; Hydra only logs these.
public struct ContainerInfo: Sendable, Equatable {
    public var id: String
    public var podSandboxID: String
    public var name: String
    public var state: Int32

    public init(id: String, podSandboxID: String, name: String = "", state: Int32 = 0) {
        self.id = id
        self.podSandboxID = podSandboxID
        self.name = name
        self.state = state
    }
}

public struct SynchronizeRequest: Sendable, Equatable {
    public var pods: [PodSandbox]
    public var containers: [ContainerInfo]
    /// True when further parts follow.
    public var more: Bool

    public init(pods: [PodSandbox], containers: [ContainerInfo] = [], more: Bool = false) {
        self.pods = pods
        self.containers = containers
        self.more = more
    }

    public init(decoding bytes: [UInt8]) throws {
        self = try unpackMessage(bytes, name: "SynchronizeRequest",
                                 unpack: nri__pkg__api__v1alpha1__synchronize_request__unpack,
                                 free: nri__pkg__api__v1alpha1__synchronize_request__free_unpacked) {
            let message = $0.pointee
            var pods: [PodSandbox] = []
            pods.reserveCapacity(message.n_pods)
            for index in 0..<message.n_pods {
                if let pod = message.pods[index] { pods.append(PodSandbox(cMessage: pod)) }
            }
            var containers: [ContainerInfo] = []
            for index in 0..<message.n_containers {
                if let container = message.containers[index]?.pointee {
                    containers.append(ContainerInfo(id: swiftString(container.id),
                                                    podSandboxID: swiftString(container.pod_sandbox_id),
                                                    name: swiftString(container.name),
                                                    state: Int32(container.state.rawValue)))
                }
            }
            return SynchronizeRequest(pods: pods, containers: containers, more: message.more != 0)
        }
    }

    public func encoded() -> [UInt8] {
        let arena = CArena()
        var message = Nri__Pkg__Api__V1alpha1__SynchronizeRequest()
        nri__pkg__api__v1alpha1__synchronize_request__init(&message)
        if !pods.isEmpty {
            let array = arena.allocate(UnsafeMutablePointer<Nri__Pkg__Api__V1alpha1__PodSandbox>?.self, count: pods.count)
            for (index, pod) in pods.enumerated() { array[index] = pod.cMessage(in: arena) }
            message.n_pods = pods.count
            message.pods = array
        }
        if !containers.isEmpty {
            let array = arena.allocate(UnsafeMutablePointer<Nri__Pkg__Api__V1alpha1__Container>?.self,
                                       count: containers.count)
            for (index, container) in containers.enumerated() {
                let entry = arena.allocate(Nri__Pkg__Api__V1alpha1__Container.self)
                nri__pkg__api__v1alpha1__container__init(entry)
                entry.pointee.id = arena.string(container.id)
                entry.pointee.pod_sandbox_id = arena.string(container.podSandboxID)
                entry.pointee.name = arena.string(container.name)
                entry.pointee.state = Nri__Pkg__Api__V1alpha1__ContainerState(rawValue: UInt32(bitPattern: container.state))
                array[index] = entry
            }
            message.n_containers = containers.count
            message.containers = array
        }
        message.more = more ? 1 : 0
        return withUnsafePointer(to: &message) {
            packMessage($0, size: nri__pkg__api__v1alpha1__synchronize_request__get_packed_size,
                        pack: nri__pkg__api__v1alpha1__synchronize_request__pack)
        }
    }
}

public struct SynchronizeResponse: Sendable, Equatable {
    /// Echoes the request's `more`: the plugin can take further parts.
    public var more: Bool

    public init(more: Bool) { self.more = more }

    public init(decoding bytes: [UInt8]) throws {
        self = try unpackMessage(bytes, name: "SynchronizeResponse",
                                 unpack: nri__pkg__api__v1alpha1__synchronize_response__unpack,
                                 free: nri__pkg__api__v1alpha1__synchronize_response__free_unpacked) {
            SynchronizeResponse(more: $0.pointee.more != 0)
        }
    }

    public func encoded() -> [UInt8] {
        var message = Nri__Pkg__Api__V1alpha1__SynchronizeResponse()
        nri__pkg__api__v1alpha1__synchronize_response__init(&message)
        message.more = more ? 1 : 0
        return withUnsafePointer(to: &message) {
            packMessage($0, size: nri__pkg__api__v1alpha1__synchronize_response__get_packed_size,
                        pack: nri__pkg__api__v1alpha1__synchronize_response__pack)
        }
    }
}

/// RunPodSandboxRequest, StopPodSandboxRequest and RemovePodSandboxRequest:
/// the three share one shape, a pod in field 1.
public struct PodSandboxRequest: Sendable, Equatable {
    public var pod: PodSandbox?

    public init(pod: PodSandbox?) { self.pod = pod }

    public init(decoding bytes: [UInt8]) throws {
        self = try unpackMessage(bytes, name: "RunPodSandboxRequest",
                                 unpack: nri__pkg__api__v1alpha1__run_pod_sandbox_request__unpack,
                                 free: nri__pkg__api__v1alpha1__run_pod_sandbox_request__free_unpacked) {
            PodSandboxRequest(pod: $0.pointee.pod.map { PodSandbox(cMessage: $0) })
        }
    }

    public func encoded() -> [UInt8] {
        let arena = CArena()
        var message = Nri__Pkg__Api__V1alpha1__RunPodSandboxRequest()
        nri__pkg__api__v1alpha1__run_pod_sandbox_request__init(&message)
        message.pod = pod?.cMessage(in: arena)
        return withUnsafePointer(to: &message) {
            packMessage($0, size: nri__pkg__api__v1alpha1__run_pod_sandbox_request__get_packed_size,
                        pack: nri__pkg__api__v1alpha1__run_pod_sandbox_request__pack)
        }
    }
}

public struct StateChangeEvent: Sendable, Equatable {
    /// The raw event number; see `NRIEvent`.
    public var event: Int32
    public var pod: PodSandbox?
    /// Set for container events.
    public var container: ContainerInfo?

    public init(event: NRIEvent, pod: PodSandbox?, container: ContainerInfo? = nil) {
        self.event = event.rawValue
        self.pod = pod
        self.container = container
    }

    public init(rawEvent: Int32, pod: PodSandbox?, container: ContainerInfo? = nil) {
        self.event = rawEvent
        self.pod = pod
        self.container = container
    }

    public init(decoding bytes: [UInt8]) throws {
        self = try unpackMessage(bytes, name: "StateChangeEvent",
                                 unpack: nri__pkg__api__v1alpha1__state_change_event__unpack,
                                 free: nri__pkg__api__v1alpha1__state_change_event__free_unpacked) {
            let message = $0.pointee
            let container = message.container.map {
                ContainerInfo(id: swiftString($0.pointee.id), podSandboxID: swiftString($0.pointee.pod_sandbox_id),
                              name: swiftString($0.pointee.name), state: Int32($0.pointee.state.rawValue))
            }
            return StateChangeEvent(rawEvent: Int32(bitPattern: message.event.rawValue),
                                    pod: message.pod.map { PodSandbox(cMessage: $0) }, container: container)
        }
    }

    public func encoded() -> [UInt8] {
        let arena = CArena()
        var message = Nri__Pkg__Api__V1alpha1__StateChangeEvent()
        nri__pkg__api__v1alpha1__state_change_event__init(&message)
        message.event = Nri__Pkg__Api__V1alpha1__Event(rawValue: UInt32(bitPattern: event))
        message.pod = pod?.cMessage(in: arena)
        if let container {
            let entry = arena.allocate(Nri__Pkg__Api__V1alpha1__Container.self)
            nri__pkg__api__v1alpha1__container__init(entry)
            entry.pointee.id = arena.string(container.id)
            entry.pointee.pod_sandbox_id = arena.string(container.podSandboxID)
            entry.pointee.name = arena.string(container.name)
            message.container = entry
        }
        return withUnsafePointer(to: &message) {
            packMessage($0, size: nri__pkg__api__v1alpha1__state_change_event__get_packed_size,
                        pack: nri__pkg__api__v1alpha1__state_change_event__pack)
        }
    }
}

/// Decodes a body that must be the empty message `Empty` (or any message
/// whose fields Hydra ignores): it only has to be valid protobuf.
public func validateEmptyMessage(_ bytes: [UInt8]) throws {
    try unpackMessage(bytes, name: "Empty",
                      unpack: nri__pkg__api__v1alpha1__empty__unpack,
                      free: nri__pkg__api__v1alpha1__empty__free_unpacked) { _ in () }
}
