import CNetlink
import Glibc

/// A snapshot of a network interface as the kernel reported it (RTM_GETLINK).
public struct Link: Sendable, Equatable {
    public var index: Int32
    public var name: String
    /// The IFLA_INFO_KIND: "veth", "bridge", "macvlan", "vxlan", "dummy"; nil for physical devices.
    public var kind: String?
    public var mtu: UInt32
    public var mac: MACAddress?
    /// The IFF_* flags (IFF_UP, IFF_PROMISC, ...).
    public var flags: UInt32
    /// The index of the master device (the bridge of a bridge port), 0 when none.
    public var masterIndex: Int32
    /// IFLA_LINK: the parent of a macvlan or vlan, or the peer index of a veth.
    /// For a veth whose peer is in another namespace, the index is in that namespace.
    public var parentIndex: Int32
    /// The RFC 2863 operational state (IF_OPER_UP is 6).
    public var operState: UInt8
    /// The macvlan mode for a macvlan link ("bridge", "private", "vepa", "passthru", "source").
    public var macvlanMode: String?

    public var isUp: Bool { flags & UInt32(IFF_UP.rawValue) != 0 }
    public var isPromiscuous: Bool { flags & UInt32(IFF_PROMISC.rawValue) != 0 }
    /// True when the operational state is IF_OPER_UP: the link carries traffic.
    public var isOperationallyUp: Bool { operState == UInt8(IF_OPER_UP) }

    init(index: Int32, name: String, kind: String?, mtu: UInt32, mac: MACAddress?, flags: UInt32,
         masterIndex: Int32, parentIndex: Int32, operState: UInt8, macvlanMode: String?) {
        self.index = index
        self.name = name
        self.kind = kind
        self.mtu = mtu
        self.mac = mac
        self.flags = flags
        self.masterIndex = masterIndex
        self.parentIndex = parentIndex
        self.operState = operState
        self.macvlanMode = macvlanMode
    }

    /// Reads the fields of a libnl link object.
    init(_ link: OpaquePointer) {
        index = rtnl_link_get_ifindex(link)
        name = rtnl_link_get_name(link).map { String(cString: $0) } ?? ""
        kind = rtnl_link_get_type(link).map { String(cString: $0) }
        mtu = rtnl_link_get_mtu(link)
        mac = MACAddress(nlAddress: rtnl_link_get_addr(link))
        flags = rtnl_link_get_flags(link)
        masterIndex = rtnl_link_get_master(link)
        parentIndex = rtnl_link_get_link(link)
        operState = rtnl_link_get_operstate(link)
        if kind == "macvlan" {
            let mode = rtnl_link_macvlan_get_mode(link)
            var buffer = [CChar](repeating: 0, count: 32)
            macvlanMode = rtnl_link_macvlan_mode2str(Int32(mode), &buffer, buffer.count).map { String(cString: $0) }
        }
    }
}

extension NetlinkSocket {
    /// Looks up a link by name (rtnl_link_get_kernel). Throws a `NetlinkError`
    /// whose `isNotFound` is true when no such link exists.
    public func link(named name: String) throws(NetlinkError) -> Link {
        try fetchLink(index: 0, name: name, subject: "\"\(name)\"")
    }

    /// Looks up a link by interface index (rtnl_link_get_kernel).
    public func link(index: Int32) throws(NetlinkError) -> Link {
        try fetchLink(index: index, name: nil, subject: "with index \(index)")
    }

    /// Looks up a link by name and returns nil when it does not exist.
    public func linkIfPresent(named name: String) throws(NetlinkError) -> Link? {
        do {
            return try link(named: name)
        } catch where error.isNotFound {
            return nil
        }
    }

    /// Lists every link of the socket's namespace (a cached RTM_GETLINK dump).
    public func links() throws(NetlinkError) -> [Link] {
        try withCache("list", "links", allocate: { sock, cache in
            rtnl_link_alloc_cache(sock, AF_UNSPEC, cache)
        }) { cache in
            cacheObjects(cache).map { Link($0) }
        }
    }

    /// Sends RTM_GETLINK for one link and parses the reply itself. Every
    /// attach looks up several links, and libnl's rtnl_link_get_kernel parses
    /// every attribute into a cache object, statistics included. This request
    /// leaves the statistics out (RTEXT_FILTER_SKIP_STATS), and the parser
    /// reads only the fields of `Link`.
    private func fetchLink(index: Int32, name: String?, subject: String) throws(NetlinkError) -> Link {
        let message = try RawMessage(type: Int32(RTM_GETLINK), flags: 0)
        try message.appendLinkHeader(family: AF_UNSPEC, index: index)
        if let name { try message.putString(Int32(IFLA_IFNAME), name) }
        try message.putU32(Int32(IFLA_EXT_MASK), UInt32(RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS))

        let reply = try withHandle { (sock) throws(NetlinkError) -> [UInt8] in
            // Without NLM_F_ACK the kernel sends the link and nothing else,
            // so no acknowledgement is left on the socket for the next request.
            // The sequence number is Hydra's own, outside the series libnl
            // numbers and checks its requests with, so libnl's next request
            // still finds the number it expects.
            let header = nlmsg_hdr(message.pointer)!
            header.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST)
            header.pointee.nlmsg_pid = nl_socket_get_local_port(sock)
            header.pointee.nlmsg_seq = LinkMessage.lookupSequence
            let sequence = LinkMessage.lookupSequence
            try check(nl_send(sock, message.pointer), "look up link", subject)

            while true {
                var buffer: UnsafeMutablePointer<UInt8>?
                var peer = sockaddr_nl()
                let count = nl_recv(sock, &peer, &buffer, nil)
                defer { free(buffer) }
                try check(count, "look up link", subject)
                guard let buffer, count > 0 else {
                    throw NetlinkError(operation: "look up link", subject: subject, code: NLE_MSG_TRUNC,
                                       reason: "empty reply from the kernel")
                }
                let bytes = Array(UnsafeBufferPointer(start: buffer, count: Int(count)))
                // A reply to an earlier request that gave up is skipped.
                if LinkMessage.sequence(of: bytes) == sequence { return bytes }
            }
        }

        switch LinkMessage.parse(reply) {
        case .link(let link):
            return link
        case .error(let code):
            let nlCode = nl_syserr2nlerr(code)
            let notFound = nlCode == NLE_OBJ_NOTFOUND || nlCode == NLE_NODEV
            throw NetlinkError(operation: "look up link", subject: subject, code: nlCode,
                               reason: notFound ? "no such device" : nil)
        case .invalid(let reason):
            throw NetlinkError(operation: "look up link", subject: subject, code: NLE_MSG_TRUNC, reason: reason)
        }
    }
}

/// The parts of an RTM_NEWLINK message that `Link` keeps, read straight from
/// the bytes: `nlmsghdr`, `ifinfomsg`, then attributes, each 4-byte aligned.
enum LinkMessage {
    enum Outcome {
        case link(Link)
        /// An NLMSG_ERROR carrying this errno value.
        case error(Int32)
        case invalid(String)
    }

    /// The nlmsg_seq of every lookup this file sends. libnl starts its own
    /// series at the time of day, so its replies never carry this number.
    static let lookupSequence: UInt32 = 1

    /// Returns the nlmsg_seq of the first message in `bytes`, or nil when too short.
    static func sequence(of bytes: [UInt8]) -> UInt32? {
        guard bytes.count >= 16 else { return nil }
        return u32(bytes, 8)
    }

    static func parse(_ bytes: [UInt8]) -> Outcome {
        guard bytes.count >= 16 else { return .invalid("reply shorter than a netlink header") }
        let length = Int(u32(bytes, 0))
        let type = Int32(u16(bytes, 4))
        guard length >= 16, length <= bytes.count else { return .invalid("reply length \(length) does not fit \(bytes.count) bytes") }

        if type == NLMSG_ERROR {
            guard length >= 20 else { return .invalid("error reply too short") }
            return .error(-Int32(bitPattern: u32(bytes, 16)))
        }
        guard type == RTM_NEWLINK else { return .invalid("unexpected reply type \(type)") }
        guard length >= 32 else { return .invalid("link reply too short") }

        var link = Link(index: Int32(bitPattern: u32(bytes, 20)), name: "", kind: nil, mtu: 0, mac: nil,
                        flags: u32(bytes, 24), masterIndex: 0, parentIndex: 0, operState: 0, macvlanMode: nil)
        var macvlanMode: UInt32?
        forEachAttribute(bytes, from: 32, to: length) { type, start, end in
            switch Int32(type) {
            case Int32(IFLA_IFNAME): link.name = string(bytes, start, end)
            case Int32(IFLA_MTU) where end - start >= 4: link.mtu = u32(bytes, start)
            case Int32(IFLA_ADDRESS): link.mac = MACAddress(bytes: Array(bytes[start..<end]))
            case Int32(IFLA_MASTER) where end - start >= 4: link.masterIndex = Int32(bitPattern: u32(bytes, start))
            case Int32(IFLA_LINK) where end - start >= 4: link.parentIndex = Int32(bitPattern: u32(bytes, start))
            case Int32(IFLA_OPERSTATE) where end - start >= 1: link.operState = bytes[start]
            case Int32(IFLA_LINKINFO):
                forEachAttribute(bytes, from: start, to: end) { infoType, infoStart, infoEnd in
                    if Int32(infoType) == Int32(IFLA_INFO_KIND) {
                        link.kind = string(bytes, infoStart, infoEnd)
                    } else if Int32(infoType) == Int32(IFLA_INFO_DATA) {
                        forEachAttribute(bytes, from: infoStart, to: infoEnd) { dataType, dataStart, dataEnd in
                            // Used below only for a macvlan: attribute numbers here depend on the kind.
                            if Int32(dataType) == Int32(IFLA_MACVLAN_MODE) && dataEnd - dataStart >= 4 {
                                macvlanMode = u32(bytes, dataStart)
                            }
                        }
                    }
                }
            default:
                break
            }
        }
        if link.kind == "macvlan", let macvlanMode {
            var buffer = [CChar](repeating: 0, count: 32)
            link.macvlanMode = rtnl_link_macvlan_mode2str(Int32(bitPattern: macvlanMode), &buffer, buffer.count)
                .map { String(cString: $0) }
        }
        return .link(link)
    }

    /// Calls `body` with the type (flags masked off) and payload range of
    /// each attribute between `start` and `end`.
    private static func forEachAttribute(_ bytes: [UInt8], from start: Int, to end: Int,
                                         _ body: (UInt16, Int, Int) -> Void) {
        var offset = start
        while offset + 4 <= end {
            let length = Int(u16(bytes, offset))
            guard length >= 4, offset + length <= end else { return }
            // The top two bits of the type are the NLA_F_NESTED and NLA_F_NET_BYTEORDER flags.
            body(u16(bytes, offset + 2) & 0x3FFF, offset + 4, offset + length)
            offset += (length + 3) & ~3
        }
    }

    /// Reads a NUL-terminated string attribute.
    private static func string(_ bytes: [UInt8], _ start: Int, _ end: Int) -> String {
        let payload = bytes[start..<end]
        return String(decoding: payload.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    // Netlink headers and attributes are in host byte order.
    private static func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) }
    }

    private static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }
}
