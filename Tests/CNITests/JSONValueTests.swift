import CNI
import Foundation
import Testing

@Suite struct JSONValueTests {
    @Test func integersRoundTripExactly() throws {
        let text = #"{"a":1,"b":-9223372036854775808,"c":9223372036854775807,"d":0}"#
        let value = try JSONValue(parsing: text)

        #expect(value["a"] == .integer(1))
        #expect(value["b"] == .integer(Int64.min))
        #expect(value["c"] == .integer(Int64.max))
        #expect(value.encodedString() == text)
    }

    @Test func doublesStayDoubles() throws {
        let value = try JSONValue(parsing: #"[1.0,1.5,-2e3,1E+2,0.1]"#)

        #expect(value[0] == .double(1.0))
        #expect(value[1] == .double(1.5))
        #expect(value[2] == .double(-2000))
        #expect(value[3] == .double(100))
        #expect(value.encodedString() == "[1.0,1.5,-2000.0,100.0,0.1]")
        #expect(try JSONValue(parsing: value.encoded()) == value)
    }

    @Test func integerBeyondInt64BecomesDouble() throws {
        let value = try JSONValue(parsing: "18446744073709551616")
        #expect(value == .double(18446744073709551616.0))
    }

    @Test func unknownFieldsSurviveReencoding() throws {
        let config = """
            {"cniVersion":"1.0.0","name":"net","type":"bridge","x-vendor":{"nested":[1,2.5,"s",true,null]},
             "ipam":{"type":"host-local","mystery":{"k":[{"deep":7}]}},"flag":false}
            """
        let value = try JSONValue(parsing: config)
        let again = try JSONValue(parsing: value.encoded())

        #expect(again == value)
        #expect(again["x-vendor"]?["nested"]?[0] == .integer(1))
        #expect(again["x-vendor"]?["nested"]?[1] == .double(2.5))
        #expect(again["x-vendor"]?["nested"]?[4] == .null)
        #expect(again["ipam"]?["mystery"]?["k"]?[0]?["deep"]?.int64Value == 7)
        #expect(again["flag"]?.boolValue == false)
    }

    @Test func stringEscapesRoundTrip() throws {
        let text = #"{"s":"quote \" backslash \\ newline \n tab \t nul \u0000 e \u00e9 emoji \ud83d\ude00 slash \/"}"#
        let value = try JSONValue(parsing: text)

        #expect(value["s"]?.stringValue == "quote \" backslash \\ newline \n tab \t nul \u{0} e é emoji 😀 slash /")
        #expect(try JSONValue(parsing: value.encoded()) == value)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"abc", "\"\\x\"", "{\"a\":1}x",
        "\"\\ud800\"", "[1 2]", "nul", "\"tab\there\"",
    ])
    func invalidDocumentsAreRejected(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test func sortedKeysAreStable() throws {
        let value: JSONValue = ["b": 1, "a": ["z": true, "y": nil], "c": "x"]
        #expect(value.encodedString() == #"{"a":{"y":null,"z":true},"b":1,"c":"x"}"#)
    }

    @Test func accessorsReturnNilForOtherKinds() {
        let value: JSONValue = ["list": [1, 2], "text": "t", "number": 1.5]

        #expect(value["missing"] == nil)
        #expect(value["list"]?.stringValue == nil)
        #expect(value["list"]?.arrayValue?.count == 2)
        #expect(value["list"]?[5] == nil)
        #expect(value["text"]?.objectValue == nil)
        #expect(value["number"]?.int64Value == nil)
        #expect(value["number"]?.doubleValue == 1.5)
        #expect(JSONValue.string("x")["key"] == nil)
    }

    @Test func subscriptSetterEditsObjects() {
        var value: JSONValue = ["a": 1]
        value["b"] = "two"
        value["a"] = nil

        #expect(value == ["b": "two"])
    }

    @Test func codableRoundTripThroughJSONEncoder() throws {
        let value: JSONValue = ["n": 3, "d": 2.5, "s": "x", "a": [true, nil]]
        let data = try JSONEncoder().encode(value)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: data)

        #expect(decoded == value)
    }
}
