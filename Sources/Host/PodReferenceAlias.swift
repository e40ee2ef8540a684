import Orchestrator

/// The orchestrator's pod reference under a name that does not collide with
/// the Kubernetes module's own `PodReference`.
typealias OrchestratorPodReference = PodReference

/// The orchestrator's NetworkAttachmentDefinition, which the Kubernetes
/// module also names.
typealias OrchestratorDefinition = NetworkAttachmentDefinition
