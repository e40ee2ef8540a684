import CNI
import Foundation

/// Reads DNS settings from a resolv.conf file for host-local's `resolvConf`
/// option: `nameserver`, `domain`, `search` and `options` lines, as the
/// reference plugin's parser reads them. Comments start with "#" or ";".
func parseResolvConf(path: String) throws -> CNIResult.DNS {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CNIError(code: CNIError.ioFailure, msg: "failed to read resolvConf file \"\(path)\"",
                       details: "the file does not exist or is not readable")
    }
    var dns = CNIResult.DNS()
    for rawLine in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
        let line = rawLine.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let keyword = fields.first else { continue }
        let values = Array(fields.dropFirst())
        switch keyword {
        case "nameserver":
            dns.nameservers.append(contentsOf: values)
        case "domain":
            if let first = values.first { dns.domain = first }
        case "search":
            dns.search.append(contentsOf: values)
        case "options":
            dns.options.append(contentsOf: values)
        default:
            continue
        }
    }
    return dns
}
