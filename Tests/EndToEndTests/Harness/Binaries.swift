import Foundation

/// The programs under test, found next to the test bundle: SwiftPM builds
/// every product of the package into the same directory.
struct Binaries {
    let directory: String
    var hydra: String { directory + "/hydra" }
    var simulator: String { directory + "/hydra-nri-sim" }
    var fakeAPIServer: String { directory + "/hydra-fake-apiserver" }
    /// Holds `libhydra-backend-bridge.so`; passed as `backends.dir`.
    var backendsDirectory: String { directory }

    /// Walks up from the test bundle until a directory contains `hydra`,
    /// `hydra-nri-sim`, `hydra-fake-apiserver` and the bridge backend.
    static func locate() throws -> Binaries {
        let required = ["hydra", "hydra-nri-sim", "hydra-fake-apiserver", "libhydra-backend-bridge.so"]
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<6 {
            url.deleteLastPathComponent()
            if required.allSatisfy({ FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path) }) {
                return Binaries(directory: url.path)
            }
        }
        throw HarnessError("""
            \(required.joined(separator: ", ")) not found near \(CommandLine.arguments[0]); \
            run `swift build` with the same scratch path before `swift test`
            """)
    }
}
