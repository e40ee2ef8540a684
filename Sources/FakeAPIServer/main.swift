// hydra-fake-apiserver: an in-memory Kubernetes API server on loopback for
// the demo and for tests that run Hydra as a separate process.

import FakeAPIServerKit
import Foundation

let usage = """
    usage: hydra-fake-apiserver [--listen 127.0.0.1:PORT] [--seed FILE] [--print-url-file PATH]

      --listen ADDRESS:PORT   loopback address and TCP port to serve plain HTTP on;
                              port 0 picks a free port (default 127.0.0.1:0)
      --seed FILE             JSON file with {"pods": [...], "networkAttachmentDefinitions": [...]}
                              loaded at start
      --print-url-file PATH   write the base URL (http://127.0.0.1:PORT) to PATH once listening

    The base URL is also printed on standard output. Test controls live under
    /debug/: GET /debug/requests, POST /debug/faults, POST /debug/down?seconds=N.
    SIGINT or SIGTERM stops the server.
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("hydra-fake-apiserver: \(message)\n".utf8))
    exit(2)
}

var listen = "127.0.0.1:0"
var seedPath: String?
var urlFile: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--listen":
        guard let value = arguments.popFirst() else { fail("--listen needs ADDRESS:PORT") }
        listen = value
    case "--seed":
        guard let value = arguments.popFirst() else { fail("--seed needs a file path") }
        seedPath = value
    case "--print-url-file":
        guard let value = arguments.popFirst() else { fail("--print-url-file needs a file path") }
        urlFile = value
    case "-h", "--help":
        print(usage)
        exit(0)
    default:
        fail("unknown argument \"\(argument)\"\n\(usage)")
    }
}

guard let colon = listen.lastIndex(of: ":"), let port = UInt16(listen[listen.index(after: colon)...]) else {
    fail("invalid --listen \"\(listen)\": expected ADDRESS:PORT such as 127.0.0.1:0")
}
let host = String(listen[..<colon])

let server: FakeAPIServer
do {
    let seed = try seedPath.map { try FakeAPIServer.loadSeed(path: $0) } ?? FakeAPIServer.Seed()
    server = try FakeAPIServer(seed: seed, host: host)
    let url = try server.start(port: port)
    if let urlFile {
        // Write to a temporary name and rename, so a reader never sees a partial URL.
        let temporary = urlFile + ".tmp"
        try Data((url + "\n").utf8).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, urlFile) == 0 else {
            fail("failed to write \"\(urlFile)\": \(String(cString: strerror(errno)))")
        }
    }
    FileHandle.standardOutput.write(Data((url + "\n").utf8))
} catch {
    fail("\(error)")
}

// A parent may pass down a mask blocking SIGTERM (children of Foundation's
// Process do), so unblock the stop signals before waiting for them.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
let signalQueue = DispatchQueue(label: "signals")
var signalSources: [DispatchSourceSignal] = []
for number in [SIGINT, SIGTERM] {
    let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
    source.setEventHandler {
        server.stop()
        exit(0)
    }
    source.resume()
    signalSources.append(source)
}
dispatchMain()
