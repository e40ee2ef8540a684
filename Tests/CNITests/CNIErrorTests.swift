import CNI
import Foundation
import Testing

@Suite struct CNIErrorTests {
    @Test func reservedCodesMatchSpecification() {
        #expect(CNIError.incompatibleCNIVersion == 1)
        #expect(CNIError.unsupportedField == 2)
        #expect(CNIError.unknownContainer == 3)
        #expect(CNIError.invalidEnvironmentVariables == 4)
        #expect(CNIError.ioFailure == 5)
        #expect(CNIError.decodingFailure == 6)
        #expect(CNIError.invalidNetworkConfig == 7)
        #expect(CNIError.tryAgainLater == 11)
        #expect(CNIError.pluginNotAvailable == 50)
        #expect(CNIError.limitedConnectivity == 51)
    }

    @Test func jsonRoundTrip() throws {
        let error = CNIError(code: 7, msg: "invalid network config", details: "missing \"subnet\"")
        let data = error.encoded(cniVersion: "1.0.0")
        let object = try JSONValue(parsing: data)

        #expect(object == ["cniVersion": "1.0.0", "code": 7, "msg": "invalid network config",
                           "details": "missing \"subnet\""])
        #expect(try CNIError(parsing: data) == error)
    }

    @Test func emptyDetailsAreOmitted() throws {
        let object = try JSONValue(parsing: CNIError(code: 11, msg: "busy").encoded())
        #expect(object == ["code": 11, "msg": "busy"])
    }

    @Test func parsesReferencePluginOutput() throws {
        let output = Data("""
            {
                "code": 999,
                "msg": "failed to allocate for range 0: no IP addresses available in range set: 10.99.0.1-10.99.0.6"
            }
            """.utf8)
        let error = try CNIError(parsing: output)

        #expect(error.code == 999)
        #expect(error.msg.hasSuffix("10.99.0.1-10.99.0.6"))
        #expect(error.details == "")
    }

    @Test(arguments: ["not json", "[]", #"{"msg":"no code"}"#, #"{"code":"7"}"#, #"{"code":-1}"#])
    func rejectsMalformedErrors(text: String) {
        #expect {
            try CNIError(parsing: Data(text.utf8))
        } throws: { error in
            (error as? CNIError)?.code == CNIError.decodingFailure
        }
    }

    @Test func descriptionNamesCodeAndDetails() {
        let error = CNIError(code: 5, msg: "failed to write", details: "disk full")
        #expect(error.description == "failed to write: disk full (CNI error 5)")
        #expect(CNIError(code: 3, msg: "unknown container").description == "unknown container (CNI error 3)")
    }
}
