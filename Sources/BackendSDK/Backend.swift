import CNI

/// A Hydra backend written in Swift: a type conforming to this protocol plus
/// one export line in the backend's module:
///
/// ```swift
/// @_cdecl("hydra_backend_entry")
/// public func hydraBackendEntry() -> UnsafeRawPointer {
///     BackendExport.entry(for: MyBackend.self)
/// }
/// ```
///
/// The SDK turns the type into the C table of `hydra_backend.h`. The host
/// creates one instance with `init(configuration:host:)`, calls the
/// operations from its own threads (concurrently for different sandboxes
/// when `isThreadSafe` is true), and calls `shutdown()` once at the end.
///
/// Errors thrown by an operation cross the ABI as a code and a message: a
/// `CNIError` keeps its code, any other error becomes code 999
/// (`CNIError.internalError`) with the error's description.
public protocol Backend: AnyObject, Sendable {
    /// Backend name used in logs and in the state directory path, `[a-z0-9-]`.
    static var name: String { get }
    /// Backend version, for example "1.0.0".
    static var version: String { get }
    /// The CNI `type` names this backend serves.
    static var types: [String] { get }
    /// Whether the host may call attach, detach, check and garbage collection
    /// concurrently. Defaults to true.
    static var isThreadSafe: Bool { get }

    /// Creates the backend from its configuration object in the host
    /// configuration (an empty object when there is none).
    init(configuration: JSONValue, host: HostServices) throws

    /// Creates `request.ifName` in `request.netns` and returns its CNI result.
    func attach(_ request: AttachRequest, deadline: Deadline) throws -> CNIResult

    /// Removes what `attach` created, with CNI DEL semantics: succeeds when
    /// the namespace or the interface is already gone and always releases
    /// addresses.
    func detach(_ request: AttachRequest, deadline: Deadline) throws

    /// Verifies that the attachment is still in place as `request.prevResult` describes.
    func check(_ request: AttachRequest, deadline: Deadline) throws

    /// Releases every resource that belongs to none of `request.validAttachments`.
    /// The default does nothing.
    func garbageCollect(_ request: GCRequest, deadline: Deadline) throws

    /// Stops background work. Called once; the default does nothing.
    func shutdown()
}

extension Backend {
    public static var isThreadSafe: Bool { true }
    public func garbageCollect(_ request: GCRequest, deadline: Deadline) throws {}
    public func shutdown() {}
}
