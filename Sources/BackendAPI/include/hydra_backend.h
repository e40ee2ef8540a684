/*
 * hydra_backend.h - the Hydra backend ABI, version 1.
 *
 * A Hydra backend is a shared object (ELF .so) that the Hydra host loads with
 * dlopen(path, RTLD_NOW | RTLD_LOCAL) at start-up. It attaches and detaches
 * pod network interfaces for the CNI `type` names it serves. Any language
 * that can export a C symbol can implement this header: C, C++, Rust,
 * Go (-buildmode=c-shared) or Swift (through the BackendSDK target).
 *
 * This header is the whole contract. It has no code and no dependencies
 * beyond <stdint.h>.
 *
 * ------------------------------------------------------------------------
 * 1. Entry symbol and version agreement
 * ------------------------------------------------------------------------
 * The backend exports exactly one symbol that the host looks up:
 *
 *     const struct hydra_backend_v1 *hydra_backend_entry(void);
 *
 * It returns a pointer to a table that stays valid and unchanged until the
 * process exits. The host calls it once, right after dlopen, before it calls
 * any other function of the backend. It must not block; the host rejects
 * the library when it returns NULL.
 *
 * The first field of every table version is `abi_version`, and it never
 * moves. A backend sets it to the HYDRA_BACKEND_ABI_VERSION of the header it
 * was compiled against. The host reads that field first and rejects the
 * library when the value differs from its own ABI version, before it reads
 * any other field. A later ABI version is a new table type
 * (struct hydra_backend_v2) and a new constant, so a host never misreads a
 * table: it either knows the layout of the version it finds or rejects the
 * library.
 * `struct_size` carries sizeof(struct hydra_backend_v1) as the backend saw it,
 * and the host rejects a table smaller than its own.
 *
 * ------------------------------------------------------------------------
 * 2. Life cycle and threads
 * ------------------------------------------------------------------------
 *     hydra_backend_entry()             once
 *     init(table, config, host, &inst)  once; on failure nothing else is called
 *     attach / detach / check / gc      any number of times
 *     shutdown(instance)                once, after every other call returned
 *
 * When calls still run a few seconds after the host decided to stop (a
 * backend stuck past its deadlines), the host skips shutdown and exits
 * without it.
 *
 * The host never calls init or shutdown concurrently with anything else.
 * When `flags` contains HYDRA_BACKEND_THREAD_SAFE the host calls attach,
 * detach, check and gc concurrently from several threads, for different
 * sandboxes; it never runs two calls for the same sandbox and interface at
 * once. Without the flag the host serializes every call to the backend.
 * Calls arrive on host-owned threads that may be reused for other work.
 * A backend that enters a network namespace with setns(2) on such a thread
 * must return to the host's namespace before the call returns (or use a
 * thread of its own). A backend may start its own threads in init and must
 * stop them in shutdown.
 *
 * A backend that crashes (SIGSEGV, abort, a Swift runtime trap, a Go or Rust
 * panic that is not recovered) takes the whole host process down. The host
 * persists its attachment records before it answers the container runtime,
 * so after the DaemonSet restarts the process it detaches or re-attaches
 * from those records. Return errors instead of crashing.
 *
 * The host never calls dlclose on a backend: libraries stay mapped until the
 * process exits, because Swift and Go runtimes cannot be unloaded.
 *
 * ------------------------------------------------------------------------
 * 3. Strings and ownership
 * ------------------------------------------------------------------------
 * Every string crossing the boundary is NUL-terminated UTF-8. Structured data
 * is JSON text.
 *
 *  - Inputs (const char * parameters, the host services table and the strings
 *    it points to) are owned by the caller. They are valid only until the
 *    call returns; copy what you keep. The exceptions are the host services
 *    table and its `state_directory`, which stay valid until shutdown returns.
 *  - Outputs (char ** parameters) are allocated by the callee. A string the
 *    backend returns to the host is released by the host with the backend's
 *    `free_string`, exactly once. A string the host returns to the backend
 *    (from exec_cni_plugin) is released by the backend with the host's
 *    `free_string`, exactly once. Allocate outputs with any allocator that
 *    your own free_string matches.
 *  - The callee sets an output pointer to NULL or to a string; it leaves it
 *    NULL when there is nothing to return. The caller initializes every
 *    output pointer to NULL before the call.
 *  - The identity strings in the table (`name`, `version`, `types`) are
 *    owned by the backend and never freed.
 *
 * ------------------------------------------------------------------------
 * 4. Errors
 * ------------------------------------------------------------------------
 * Every operation returns a uint32_t error code. 0 means success. Any other
 * value is an error, and the backend then sets *error_message to a
 * human-readable message that names the failing value, for example
 * "failed to create dummy interface \"net1\": File exists". The codes follow
 * CNI: the specification reserves 1..99 ("Well-known Error Codes"), and
 * libcni's pkg/types adds 8 (invalid netns) and 999 (internal error):
 *
 *   1..99       reserved by CNI; use only the meanings listed below
 *               (HYDRA_ERR_*). The host reports any other code in this range
 *               as an unknown error code of the backend.
 *   100..999    the backend's own codes, meaning whatever the backend
 *               documents. 999 is the generic "internal error" that libcni's
 *               plugin skeleton uses for errors without a code of their own.
 *   1000..1099  reserved for the host (HYDRA_HOST_ERR_*). A backend never
 *               returns them; the host reports one as an unknown error code.
 *   >= 1100     invalid; the host reports them as an unknown error code.
 *
 * On error, any *result_json the backend set is freed and ignored.
 *
 * ------------------------------------------------------------------------
 * 5. Deadlines
 * ------------------------------------------------------------------------
 * attach, detach, check and gc receive `deadline_ns`: an absolute time in
 * nanoseconds on CLOCK_MONOTONIC (clock_gettime(CLOCK_MONOTONIC)) by which
 * the call must have returned. The host answers the container runtime within
 * about two seconds, and every pod start on a node waits for it, so a backend
 * must bound every blocking step by the deadline and return
 * HYDRA_ERR_TRY_AGAIN_LATER (or its own code) when it cannot finish in time.
 * The host cannot interrupt a C call: when a call overruns its deadline, the
 * host reports a timeout for that attachment, keeps running, and frees the
 * late result once the call returns. A deadline of 0 means "no deadline";
 * the host always passes a real deadline, but a backend must accept 0.
 *
 * ------------------------------------------------------------------------
 * 6. Request JSON (attach, detach, check)
 * ------------------------------------------------------------------------
 * One JSON object. Fields marked (optional) may be missing; consumers must
 * ignore fields they do not know, because later minor versions of the host
 * may add fields without changing the ABI version.
 *
 *   "sandboxID"     string  the pod sandbox id (the CNI container id).
 *   "podName"       string  the pod's name.
 *   "podNamespace"  string  the pod's Kubernetes namespace.
 *   "podUID"        string  the pod's UID.
 *   "netns"         string  path of the pod's network namespace, for example
 *                           "/var/run/netns/cni-1234". On detach it may be ""
 *                           or name a namespace that no longer exists; detach
 *                           must then still release everything outside the
 *                           namespace (IP addresses, host-side links) and
 *                           succeed.
 *   "ifName"        string  the interface name inside the pod, at most 15
 *                           bytes, for example "net1".
 *   "networkName"   string  the Hydra network name, "namespace/name" for a
 *                           NetworkAttachmentDefinition or "name" for a
 *                           network from the host configuration.
 *   "config"        object  the plugin's CNI configuration exactly as a CNI
 *                           plugin would read it on stdin: it contains
 *                           "cniVersion", "name" and "type" (one of the
 *                           types this backend serves) and the type's own
 *                           keys (the same keys as the reference CNI plugin
 *                           of that type).
 *   "runtimeConfig" object  (optional) capability arguments, as CNI's
 *                           "runtimeConfig": "ips" (array of CIDR strings),
 *                           "mac" (string), "portMappings" (array of
 *                           {hostPort, containerPort, protocol, hostIP}),
 *                           "bandwidth" ({ingressRate, ingressBurst,
 *                           egressRate, egressBurst}), "infinibandGUID",
 *                           "deviceID" and any other key the pod requested.
 *   "args"          object  (optional) CNI_ARGS as string key/value pairs,
 *                           for example {"K8S_POD_NAME": "web-0",
 *                           "K8S_POD_NAMESPACE": "default", "IgnoreUnknown":
 *                           "1"}.
 *   "prevResult"    object  (optional) the CNI 1.x result of the previous
 *                           plugin in the network's plugin list. On detach
 *                           and check it is the result this backend's attach
 *                           returned.
 *
 * Example:
 *   {"sandboxID":"4a1f...","podName":"web-0","podNamespace":"default",
 *    "podUID":"9c1e...","netns":"/var/run/netns/cni-4a1f","ifName":"net1",
 *    "networkName":"default/storage",
 *    "config":{"cniVersion":"1.0.0","name":"storage","type":"dummy",
 *              "address":"10.10.0.5/24"},
 *    "runtimeConfig":{"mac":"02:00:00:00:00:01"},
 *    "args":{"K8S_POD_NAME":"web-0"}}
 *
 * A backend rejects a request that is not valid JSON or lacks a required
 * field with HYDRA_ERR_DECODING_FAILED or HYDRA_ERR_INVALID_NETWORK_CONFIG;
 * it never crashes on one.
 *
 * ------------------------------------------------------------------------
 * 7. Result JSON (attach)
 * ------------------------------------------------------------------------
 * A CNI 1.x result object (CNI specification 1.0, "Success"):
 *
 *   {"cniVersion":"1.0.0",
 *    "interfaces":[{"name":"net1","mac":"02:..","sandbox":"/var/run/netns/.."}],
 *    "ips":[{"address":"10.10.0.5/24","gateway":"10.10.0.1","interface":0}],
 *    "routes":[{"dst":"0.0.0.0/0","gw":"10.10.0.1"}],
 *    "dns":{"nameservers":[],"domain":"","search":[],"options":[]}}
 *
 * "cniVersion" is the version in the request's config, or "1.0.0" when the
 * config names an older version (the result keeps the 1.x layout; the host
 * converts it for older plugin chains). The interface in the pod namespace named "ifName" must appear in
 * "interfaces" with its "sandbox" set to the request's "netns". The host
 * rejects a result that is not a JSON object or whose "interfaces"/"ips"
 * are malformed, and fails that attachment.
 *
 * ------------------------------------------------------------------------
 * 8. GC request JSON
 * ------------------------------------------------------------------------
 *   {"validAttachments":[{"sandboxID":"..","networkName":"..",
 *                         "ifName":"net1"}, ...]}
 *
 * The backend releases every resource it created (IP reservations, host-side
 * links, state files) that does not belong to one of the listed attachments.
 * That includes the pod-side interface when its namespace still exists, so
 * a backend keeps the namespace path of each attachment in its state
 * directory. The list contains every live attachment of this backend on the
 * node; resources of listed attachments stay untouched.
 */
#ifndef HYDRA_BACKEND_H
#define HYDRA_BACKEND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version of this header. See "Entry symbol and version agreement". */
#define HYDRA_BACKEND_ABI_VERSION 1

/** The name of the one symbol the host looks up with dlsym. */
#define HYDRA_BACKEND_ENTRY_SYMBOL "hydra_backend_entry"

/* ---- Error codes -------------------------------------------------------- */

/** Success. */
#define HYDRA_OK 0u
/** CNI 1: the request's cniVersion is not supported. */
#define HYDRA_ERR_INCOMPATIBLE_CNI_VERSION 1u
/** CNI 2: a field of the configuration is not supported. */
#define HYDRA_ERR_UNSUPPORTED_FIELD 2u
/** CNI 3: the sandbox or its network namespace does not exist. */
#define HYDRA_ERR_UNKNOWN_CONTAINER 3u
/** CNI 4: an environment or argument value (CNI_ARGS, "args") is invalid. */
#define HYDRA_ERR_INVALID_ENVIRONMENT 4u
/** CNI 5: an I/O operation failed (for example reading a state file). */
#define HYDRA_ERR_IO_FAILURE 5u
/** CNI 6: the request or configuration could not be decoded (invalid JSON). */
#define HYDRA_ERR_DECODING_FAILED 6u
/** CNI 7: the network configuration is invalid (a key is missing or wrong). */
#define HYDRA_ERR_INVALID_NETWORK_CONFIG 7u
/** CNI 8: the network namespace path is invalid. */
#define HYDRA_ERR_INVALID_NETNS 8u
/** CNI 11: a transient failure; the caller should retry later. */
#define HYDRA_ERR_TRY_AGAIN_LATER 11u
/** CNI 50 (STATUS): the plugin cannot serve attach requests now. */
#define HYDRA_ERR_PLUGIN_NOT_AVAILABLE 50u
/** CNI 51 (STATUS): the plugin is unavailable and existing attachments may
 *  have limited connectivity. */
#define HYDRA_ERR_LIMITED_CONNECTIVITY 51u

/** First code a backend may define for itself. */
#define HYDRA_ERR_BACKEND_FIRST 100u
/** Generic error without a code of its own (libcni's skeleton uses it too). */
#define HYDRA_ERR_INTERNAL 999u
/** Last code a backend may define for itself. */
#define HYDRA_ERR_BACKEND_LAST 999u

/** First code reserved for the host. */
#define HYDRA_HOST_ERR_FIRST 1000u
/** Host code: the call did not return before its deadline. */
#define HYDRA_HOST_ERR_DEADLINE_EXCEEDED 1000u
/** Host code: the backend returned a result that is not a valid CNI result. */
#define HYDRA_HOST_ERR_INVALID_RESULT 1001u
/** Host code: the backend returned a code outside the allowed ranges. */
#define HYDRA_HOST_ERR_UNKNOWN_ERROR_CODE 1002u
/** Host code: exec_cni_plugin could not find or start the plugin binary. */
#define HYDRA_HOST_ERR_PLUGIN_NOT_FOUND 1003u
/** Host code: the plugin binary failed without a CNI error on stdout. */
#define HYDRA_HOST_ERR_PLUGIN_FAILED 1004u
/** Last code reserved for the host. */
#define HYDRA_HOST_ERR_LAST 1099u

/* ---- Host services ------------------------------------------------------ */

/** Log levels for hydra_host_services_v1.log. */
enum hydra_log_level {
    HYDRA_LOG_DEBUG = 0,
    HYDRA_LOG_INFO = 1,
    HYDRA_LOG_WARNING = 2,
    HYDRA_LOG_ERROR = 3,
};

/**
 * Services the host offers to the backend, passed to init. The table and
 * `state_directory` stay valid until shutdown returns. Every function is
 * thread-safe and may be called from any thread, including the backend's
 * own threads, but not after shutdown returned.
 */
struct hydra_host_services_v1 {
    /** sizeof(struct hydra_host_services_v1) as the host saw it. */
    uint32_t struct_size;

    /** Opaque host pointer; pass it as the first argument of every function. */
    void *context;

    /**
     * Writes one log line through the host's logger, tagged with the backend
     * name. `level` is an enum hydra_log_level. `sandbox_id` may be NULL when
     * the line belongs to no sandbox. `message` is one line without newline.
     */
    void (*log)(void *context, int32_t level, const char *sandbox_id,
                const char *message);

    /**
     * Absolute path of a directory private to this backend, created by the
     * host before init (for example "/var/lib/hydra/backends/dummy"). It
     * survives restarts of the host; keep per-attachment state here.
     */
    const char *state_directory;

    /**
     * Runs a CNI plugin binary through the host's CNI executor, with the
     * environment, stdin and result handling of the CNI specification. Use it
     * for IPAM types the backend does not implement itself, for example
     * "host-local".
     *
     * `request_json` is an object:
     *   "command"      "ADD", "DEL", "CHECK", "VERSION", "GC" or "STATUS"
     *   "type"         plugin binary name, looked up in the host's CNI
     *                  plugin directories (default /opt/cni/bin)
     *   "config"       object written to the plugin's stdin (needs
     *                  "cniVersion" and "name"; for IPAM plugins pass the
     *                  network config with the "ipam" object)
     *   "containerID"  CNI_CONTAINERID (optional for VERSION)
     *   "netns"        CNI_NETNS (optional)
     *   "ifName"       CNI_IFNAME (optional)
     *   "args"         object of CNI_ARGS key/value pairs (optional)
     *
     * Returns 0 and sets *result_json to the plugin's stdout (a CNI result
     * for ADD, version information for VERSION, NULL when the plugin printed
     * nothing). On failure returns the plugin's CNI error code (or a
     * HYDRA_HOST_ERR_* code) and sets *error_message to the plugin's "msg"
     * and "details", or to its stderr and exit status. The backend frees both
     * strings with this table's free_string. The call returns before
     * `deadline_ns` (CLOCK_MONOTONIC, absolute): the host kills the plugin's
     * process group at the deadline.
     */
    uint32_t (*exec_cni_plugin)(void *context, const char *request_json,
                                int64_t deadline_ns, char **result_json,
                                char **error_message);

    /** Frees a string returned by exec_cni_plugin. NULL is ignored. */
    void (*free_string)(void *context, char *string);
};

/* ---- Backend table ------------------------------------------------------ */

/** Flag: attach, detach, check and gc may run concurrently (see section 2). */
#define HYDRA_BACKEND_THREAD_SAFE 0x1u

/**
 * The table a backend returns from hydra_backend_entry. Every function
 * pointer is required except `gc`, which may be NULL when the backend keeps
 * nothing outside the pod's namespace.
 */
struct hydra_backend_v1 {
    /** HYDRA_BACKEND_ABI_VERSION the backend was compiled against. Always first. */
    uint32_t abi_version;
    /** sizeof(struct hydra_backend_v1) as the backend saw it. */
    uint32_t struct_size;

    /* Identify: constant strings owned by the backend. */

    /** Backend name, for example "dummy": [a-z0-9-], used in logs and paths. */
    const char *name;
    /** Backend version, for example "1.2.0". */
    const char *version;
    /** NULL-terminated array of the CNI `type` names the backend serves. */
    const char *const *types;
    /** Bit set of HYDRA_BACKEND_* flags. */
    uint32_t flags;

    /**
     * Initializes the backend. `backend` is the table hydra_backend_entry
     * returned, so a backend that embeds the table in a larger structure can
     * reach its own data. `config_json` is the backend's configuration
     * object from the host configuration ("{}" when there is none). `host`
     * stays valid until shutdown returns. On success sets *instance to a
     * backend pointer passed to every later call (it may be NULL) and returns
     * 0. On failure returns an error code and sets *error_message; the host
     * then reports "init failed" with that message and never calls the
     * backend again.
     */
    uint32_t (*init)(const struct hydra_backend_v1 *backend,
                     const char *config_json,
                     const struct hydra_host_services_v1 *host,
                     void **instance, char **error_message);

    /**
     * Attaches one interface: creates "ifName" in the namespace "netns" as
     * "config" describes. On success sets *result_json to a CNI 1.x result
     * (section 7). On failure it must leave nothing behind (like CNI ADD), or
     * leave what a later detach of the same request removes.
     */
    uint32_t (*attach)(void *instance, const char *request_json,
                       int64_t deadline_ns, char **result_json,
                       char **error_message);

    /**
     * Detaches what attach created for the same request, following CNI DEL:
     * it is idempotent and succeeds when the interface or the namespace is
     * already gone, and it always releases IP addresses and host-side
     * resources.
     */
    uint32_t (*detach)(void *instance, const char *request_json,
                       int64_t deadline_ns, char **error_message);

    /**
     * Verifies that what attach created is still in place and matches
     * "prevResult" (like CNI CHECK). Returns 0 when it is, an error otherwise.
     */
    uint32_t (*check)(void *instance, const char *request_json,
                      int64_t deadline_ns, char **error_message);

    /**
     * Releases everything not in the GC request's "validAttachments"
     * (section 8). May be NULL.
     */
    uint32_t (*gc)(void *instance, const char *gc_request_json,
                   int64_t deadline_ns, char **error_message);

    /**
     * Stops the backend's threads and releases its memory. After it returns
     * the host never calls the backend or uses `instance` again, and the
     * backend must not call the host services.
     */
    void (*shutdown)(void *instance);

    /** Frees a string the backend returned (result or error message). NULL is ignored. */
    void (*free_string)(char *string);
};

/**
 * The entry symbol every backend exports. Returns the backend's table, which
 * must stay valid until the process exits.
 */
const struct hydra_backend_v1 *hydra_backend_entry(void);

/** Function type of hydra_backend_entry, for dlsym callers. */
typedef const struct hydra_backend_v1 *(*hydra_backend_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* HYDRA_BACKEND_H */
