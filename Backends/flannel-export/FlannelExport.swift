import BackendSDK
import FlannelNetwork

// The exported entry symbol lives in its own target so that test binaries,
// which link the flannel logic alongside other backends, never carry two
// definitions of `hydra_backend_entry`.
@_cdecl("hydra_backend_entry")
public func hydraBackendEntry() -> UnsafeRawPointer {
    BackendExport.entry(for: FlannelBackend.self)
}
