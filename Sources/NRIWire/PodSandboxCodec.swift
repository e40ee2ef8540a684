import CProtobufC
import NRIProto

extension PodSandbox {
    /// Converts a decoded C `PodSandbox` to the Swift value.
    init(cMessage pointer: UnsafeMutablePointer<Nri__Pkg__Api__V1alpha1__PodSandbox>) {
        let message = pointer.pointee
        var labels: [String: String] = [:]
        for index in 0..<message.n_labels {
            if let entry = message.labels[index]?.pointee {
                labels[swiftString(entry.key)] = swiftString(entry.value)
            }
        }
        var annotations: [String: String] = [:]
        for index in 0..<message.n_annotations {
            if let entry = message.annotations[index]?.pointee {
                annotations[swiftString(entry.key)] = swiftString(entry.value)
            }
        }
        var namespaces: [LinuxNamespace] = []
        if let linux = message.linux_sandbox?.pointee {
            for index in 0..<linux.n_namespaces {
                if let entry = linux.namespaces[index]?.pointee {
                    namespaces.append(LinuxNamespace(type: swiftString(entry.type), path: swiftString(entry.path)))
                }
            }
        }
        self.init(id: swiftString(message.id), name: swiftString(message.name), uid: swiftString(message.uid),
                  namespace: swiftString(message.namespace_), labels: labels, annotations: annotations,
                  runtimeHandler: swiftString(message.runtime_handler), namespaces: namespaces,
                  pid: message.pid, ips: swiftStrings(message.ips, count: message.n_ips))
    }

    /// Builds the C message in `arena`. Map entries are written in key
    /// order so that encoding is deterministic.
    func cMessage(in arena: CArena) -> UnsafeMutablePointer<Nri__Pkg__Api__V1alpha1__PodSandbox> {
        let message = arena.allocate(Nri__Pkg__Api__V1alpha1__PodSandbox.self)
        nri__pkg__api__v1alpha1__pod_sandbox__init(message)
        message.pointee.id = arena.string(id)
        message.pointee.name = arena.string(name)
        message.pointee.uid = arena.string(uid)
        message.pointee.namespace_ = arena.string(namespace)
        message.pointee.runtime_handler = arena.string(runtimeHandler)
        message.pointee.pid = pid

        if !labels.isEmpty {
            let entries = arena.allocate(UnsafeMutablePointer<Nri__Pkg__Api__V1alpha1__PodSandbox__LabelsEntry>?.self,
                                         count: labels.count)
            for (index, key) in labels.keys.sorted().enumerated() {
                let entry = arena.allocate(Nri__Pkg__Api__V1alpha1__PodSandbox__LabelsEntry.self)
                nri__pkg__api__v1alpha1__pod_sandbox__labels_entry__init(entry)
                entry.pointee.key = arena.string(key)
                entry.pointee.value = arena.string(labels[key]!)
                entries[index] = entry
            }
            message.pointee.n_labels = labels.count
            message.pointee.labels = entries
        }
        if !annotations.isEmpty {
            let entries = arena.allocate(
                UnsafeMutablePointer<Nri__Pkg__Api__V1alpha1__PodSandbox__AnnotationsEntry>?.self,
                count: annotations.count)
            for (index, key) in annotations.keys.sorted().enumerated() {
                let entry = arena.allocate(Nri__Pkg__Api__V1alpha1__PodSandbox__AnnotationsEntry.self)
                nri__pkg__api__v1alpha1__pod_sandbox__annotations_entry__init(entry)
                entry.pointee.key = arena.string(key)
                entry.pointee.value = arena.string(annotations[key]!)
                entries[index] = entry
            }
            message.pointee.n_annotations = annotations.count
            message.pointee.annotations = entries
        }
        if !namespaces.isEmpty {
            let linux = arena.allocate(Nri__Pkg__Api__V1alpha1__LinuxPodSandbox.self)
            nri__pkg__api__v1alpha1__linux_pod_sandbox__init(linux)
            let entries = arena.allocate(UnsafeMutablePointer<Nri__Pkg__Api__V1alpha1__LinuxNamespace>?.self,
                                         count: namespaces.count)
            for (index, namespace) in namespaces.enumerated() {
                let entry = arena.allocate(Nri__Pkg__Api__V1alpha1__LinuxNamespace.self)
                nri__pkg__api__v1alpha1__linux_namespace__init(entry)
                entry.pointee.type = arena.string(namespace.type)
                entry.pointee.path = arena.string(namespace.path)
                entries[index] = entry
            }
            linux.pointee.n_namespaces = namespaces.count
            linux.pointee.namespaces = entries
            message.pointee.linux_sandbox = linux
        }
        if !ips.isEmpty {
            message.pointee.n_ips = ips.count
            message.pointee.ips = arena.stringArray(ips)
        }
        return message
    }
}
