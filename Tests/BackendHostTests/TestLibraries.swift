import Foundation
import Testing

/// The package root, found from this file's path.
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A temporary directory removed when the value is released.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init(_ prefix: String = "hydra-backendhost") throws {
        path = "/tmp/\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

struct CompileError: Error, CustomStringConvertible {
    var description: String
}

/// Compiles C `source` into `<directory>/<name>` with `cc -shared -fPIC`,
/// against the ABI header, and returns the library path.
func compileLibrary(_ source: String, name: String, in directory: TemporaryDirectory,
                    extraArguments: [String] = []) throws -> String {
    let sourcePath = "\(directory.path)/\(name).c"
    let libraryPath = "\(directory.path)/\(name)"
    try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
    let arguments = ["-shared", "-fPIC", "-Wall", "-Werror", "-I\(packageRoot)/Sources/BackendAPI/include",
                     "-o", libraryPath, sourcePath] + extraArguments
    try runTool("/usr/bin/cc", arguments)
    return libraryPath
}

/// Builds the dummy C backend with gcc the way the author guide describes.
func compileDummyBackend(in directory: TemporaryDirectory, fileName: String = "libhydra-backend-dummy.so") throws -> String {
    let libraryPath = "\(directory.path)/\(fileName)"
    try runTool("/usr/bin/cc", [
        "-shared", "-fPIC", "-Wall", "-Werror",
        "-I\(packageRoot)/Sources/BackendAPI/include", "-I\(packageRoot)/Backends/dummy-c/include",
        "-I/usr/include/libnl3", "-o", libraryPath, "\(packageRoot)/Backends/dummy-c/dummy.c",
        "-ljansson", "-lnl-route-3", "-lnl-3",
    ])
    return libraryPath
}

/// Returns the path of the Swift test backend that SwiftPM built next to the test bundle.
func swiftTestBackendPath() throws -> String {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<6 {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("libhydra-backend-swifttest.so").path
        if FileManager.default.fileExists(atPath: candidate) { return candidate }
    }
    throw CompileError(description: "libhydra-backend-swifttest.so not found near \(CommandLine.arguments[0]); run `swift build --product hydra-backend-swifttest` with the same scratch path first")
}

/// Runs a program and throws with its stderr on a non-zero exit.
@discardableResult
func runTool(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CompileError(description: "\(executable) \(arguments.joined(separator: " ")) failed: \(String(decoding: errorData, as: UTF8.self))")
    }
    return String(decoding: data, as: UTF8.self)
}

/// A C backend whose behaviour the network config's "mode" selects, for the
/// loader's error handling tests:
/// - "ok": a valid result for interface "ifName".
/// - "invalid-json": a result that is not JSON.
/// - "code:N": fails with code N.
/// - "sleep:MS": sleeps MS milliseconds, then succeeds.
/// - "exec": runs the CNI plugin named by config "plugin" through the host
///   service and returns its stdout as the result.
/// Macros: INIT_CODE (default 0) makes init fail with that code, FLAGS
/// (default HYDRA_BACKEND_THREAD_SAFE) sets the table's flags.
let probeBackendSource = #"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hydra_backend.h"
#ifndef INIT_CODE
#define INIT_CODE 0
#endif
#ifndef ABI_VERSION
#define ABI_VERSION HYDRA_BACKEND_ABI_VERSION
#endif
#ifndef BACKEND_NAME
#define BACKEND_NAME "probe"
#endif
#ifndef BACKEND_TYPE
#define BACKEND_TYPE "probe"
#endif
#ifndef FLAGS
#define FLAGS HYDRA_BACKEND_THREAD_SAFE
#endif

static const struct hydra_host_services_v1 *services;

static uint32_t probe_init(const struct hydra_backend_v1 *t, const char *config,
                           const struct hydra_host_services_v1 *host, void **instance, char **error) {
    (void)t; (void)config;
    services = host;
    *instance = NULL;
    if (INIT_CODE) { *error = strdup("probe init failed on purpose: missing key \"master\""); return INIT_CODE; }
    host->log(host->context, HYDRA_LOG_INFO, NULL, "probe started");
    return 0;
}

/* Finds "key":"value" in text and copies value; good enough for the probe. */
static int find(const char *text, const char *key, char *out, size_t size) {
    char pattern[64];
    const char *start, *end;
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    start = strstr(text, pattern);
    if (!start) return 0;
    start += strlen(pattern);
    end = strchr(start, '"');
    if (!end || (size_t)(end - start) >= size) return 0;
    memcpy(out, start, end - start);
    out[end - start] = 0;
    return 1;
}

static uint32_t probe_attach(void *instance, const char *request, int64_t deadline,
                             char **result, char **error) {
    char mode[64] = "ok", ifname[32] = "net1", netns[256] = "", plugin[64] = "";
    (void)instance; (void)deadline;
    if (request[0] != '{') { *error = strdup("invalid request JSON"); return HYDRA_ERR_DECODING_FAILED; }
    find(request, "mode", mode, sizeof mode);
    find(request, "ifName", ifname, sizeof ifname);
    find(request, "netns", netns, sizeof netns);
    if (strcmp(mode, "invalid-json") == 0) { *result = strdup("{\"cniVersion\": \"1.0.0\", \"interfaces\": [ oops"); return 0; }
    if (strncmp(mode, "code:", 5) == 0) { *error = strdup("probe failed on purpose"); return (uint32_t)atoi(mode + 5); }
    if (strncmp(mode, "sleep:", 6) == 0) usleep((useconds_t)atoi(mode + 6) * 1000);
    if (strcmp(mode, "exec") == 0) {
        char *output = NULL, *message = NULL, text[512];
        uint32_t code;
        find(request, "plugin", plugin, sizeof plugin);
        snprintf(text, sizeof text, "{\"command\":\"ADD\",\"type\":\"%s\",\"config\":{\"cniVersion\":\"1.0.0\",\"name\":\"probe\"},\"containerID\":\"c1\",\"ifName\":\"%s\"}", plugin, ifname);
        code = services->exec_cni_plugin(services->context, text, deadline, &output, &message);
        if (code != 0) { *error = strdup(message ? message : "exec failed"); }
        else { *result = strdup(output ? output : ""); }
        services->free_string(services->context, output);
        services->free_string(services->context, message);
        return code;
    }
    asprintf(result, "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"%s\",\"sandbox\":\"%s\"}],\"ips\":[{\"address\":\"10.1.2.3/24\",\"interface\":0}]}", ifname, netns);
    return 0;
}

static uint32_t probe_detach(void *i, const char *r, int64_t d, char **e) { (void)i; (void)r; (void)d; (void)e; return 0; }
static uint32_t probe_check(void *i, const char *r, int64_t d, char **e) { (void)i; (void)r; (void)d; (void)e; return 0; }
static void probe_shutdown(void *i) { (void)i; }
static void probe_free(char *s) { free(s); }
static const char *const probe_types[] = {BACKEND_TYPE, NULL};

static const struct hydra_backend_v1 table = {
    .abi_version = ABI_VERSION, .struct_size = sizeof(struct hydra_backend_v1),
    .name = BACKEND_NAME, .version = "0.1.0", .types = probe_types, .flags = FLAGS,
    .init = probe_init, .attach = probe_attach, .detach = probe_detach, .check = probe_check,
    .gc = NULL, .shutdown = probe_shutdown, .free_string = probe_free,
};

#ifndef NO_ENTRY
const struct hydra_backend_v1 *hydra_backend_entry(void) { return &table; }
#else
const struct hydra_backend_v1 *some_other_symbol(void) { return &table; }
#endif
"""#

/// The link type the test backends should create: "dummy" when the kernel
/// has the dummy driver, else "bridge".
/// NOTE: some VM kernels are built without CONFIG_DUMMY ("Unknown device
/// type"); the backends then run the same checks with bridge links.
let testLinkKind: String = {
    let namespace = "hx-kind-\(UInt32.random(in: 0...0xFFFFFF))"
    guard getuid() == 0, (try? runTool("/usr/sbin/ip", ["netns", "add", namespace])) != nil else { return "dummy" }
    defer { _ = try? runTool("/usr/sbin/ip", ["netns", "del", namespace]) }
    let works = (try? runTool("/usr/sbin/ip", ["-n", namespace, "link", "add", "probe0", "type", "dummy"])) != nil
    return works ? "dummy" : "bridge"
}()
