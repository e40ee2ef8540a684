/// A CNI specification version such as "1.0.0", ordered by major, minor and patch number.
public struct CNIVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses "MAJOR.MINOR.PATCH" or "MAJOR.MINOR" (patch 0), as libcni's
    /// version parser accepts. Returns nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber),
                  let number = Int(part)
            else { return nil }
            numbers.append(number)
        }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers.count == 3 ? numbers[2] : 0)
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (lhs: CNIVersion, rhs: CNIVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    public static let v0_3_0 = CNIVersion(major: 0, minor: 3, patch: 0)
    public static let v0_3_1 = CNIVersion(major: 0, minor: 3, patch: 1)
    public static let v0_4_0 = CNIVersion(major: 0, minor: 4, patch: 0)
    public static let v1_0_0 = CNIVersion(major: 1, minor: 0, patch: 0)
    public static let v1_1_0 = CNIVersion(major: 1, minor: 1, patch: 0)

    /// The newest specification version Hydra implements.
    public static let current = v1_1_0

    /// The versions whose results Hydra reads and writes, oldest first.
    /// Versions before 0.3.0 (separate ip4/ip6 result objects) are not supported.
    public static let supportedVersions: [String] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]

    /// Returns true when `text` is one of `supportedVersions`, compared exactly as libcni does.
    public static func isSupported(_ text: String) -> Bool {
        supportedVersions.contains(text)
    }
}
