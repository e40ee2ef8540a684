/*
 * dummy: a Hydra backend in plain C, and the template of the backend author
 * guide. It serves CNI type "dummy". Attach creates a dummy interface named
 * "ifName" in the pod's network namespace, gives it the config's optional
 * static "address" (CIDR) and "mtu", and sets it up. Detach deletes it,
 * check verifies it, and gc deletes the interfaces of unlisted attachments.
 *
 * "kind" picks another link type that needs no lower device ("bridge" or
 * "ifb") for kernels built without the dummy driver (CONFIG_DUMMY), where
 * creating a dummy link fails with "Unknown device type".
 *
 * JSON comes from libjansson, netlink from libnl-route-3. Namespace work runs
 * on a thread this backend creates for each call: the thread enters the pod
 * namespace with setns(2) and exits afterwards, so no host thread ever
 * changes namespace.
 *
 * Network configuration:
 *   {"cniVersion":"1.0.0","name":"n","type":"dummy",
 *    "address":"10.10.0.5/24","mtu":1400,"kind":"dummy"}
 *
 * Error codes of its own are in dummy_backend.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <jansson.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "hydra_backend.h"
#include "dummy_backend.h"

struct dummy_backend {
    const struct hydra_host_services_v1 *host;
    char state_dir[PATH_MAX];
};

/* ---- Small helpers ------------------------------------------------------ */

/* Sets *error_message to a formatted, malloc'ed message and returns code. */
static uint32_t fail(char **error_message, uint32_t code, const char *format, ...)
{
    va_list args;
    char *message = NULL;
    va_start(args, format);
    if (vasprintf(&message, format, args) < 0)
        message = NULL;
    va_end(args);
    if (error_message)
        *error_message = message;
    else
        free(message);
    return code;
}

static void log_line(struct dummy_backend *backend, int32_t level, const char *sandbox_id,
                     const char *format, ...)
{
    char line[512];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (backend->host && backend->host->log)
        backend->host->log(backend->host->context, level, sandbox_id, line);
}

static int deadline_passed(int64_t deadline_ns)
{
    struct timespec now;
    if (deadline_ns == 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec >= deadline_ns;
}

static const char *string_field(json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    return json_is_string(value) ? json_string_value(value) : NULL;
}

/* ---- Requests ----------------------------------------------------------- */

/* The fields of the request JSON this backend uses. */
struct dummy_request {
    json_t *root;
    const char *sandbox_id;
    const char *netns;
    const char *if_name;
    const char *cni_version;
    const char *address; /* optional CIDR */
    const char *kind;    /* link type: the config's "kind", default "dummy" */
    int mtu;             /* 0 when not set */
};

/* Decodes and validates request_json. On failure returns a code and sets
 * *error_message; the caller frees request->root with json_decref either way. */
static uint32_t parse_request(const char *request_json, struct dummy_request *request,
                              char **error_message)
{
    json_error_t json_error;
    json_t *config;

    memset(request, 0, sizeof *request);
    request->root = json_loads(request_json ? request_json : "", 0, &json_error);
    if (!request->root)
        return fail(error_message, HYDRA_ERR_DECODING_FAILED,
                    "invalid request JSON at line %d: %s", json_error.line, json_error.text);
    if (!json_is_object(request->root))
        return fail(error_message, HYDRA_ERR_DECODING_FAILED, "invalid request: expected a JSON object");

    request->sandbox_id = string_field(request->root, "sandboxID");
    request->netns = string_field(request->root, "netns");
    request->if_name = string_field(request->root, "ifName");
    if (!request->sandbox_id || !*request->sandbox_id || strchr(request->sandbox_id, '/'))
        return fail(error_message, HYDRA_ERR_INVALID_NETWORK_CONFIG,
                    "invalid request: \"sandboxID\" must be a non-empty string without \"/\"");
    if (!request->if_name || !*request->if_name || strlen(request->if_name) >= IFNAMSIZ
        || strchr(request->if_name, '/'))
        return fail(error_message, HYDRA_ERR_INVALID_NETWORK_CONFIG,
                    "invalid request: \"ifName\" must be 1 to %d bytes without \"/\"", IFNAMSIZ - 1);
    if (!request->netns)
        request->netns = "";

    config = json_object_get(request->root, "config");
    if (!json_is_object(config))
        return fail(error_message, HYDRA_ERR_INVALID_NETWORK_CONFIG, "invalid request: missing object \"config\"");
    /* Results use the CNI 1.x layout, so pre-1.0 versions are reported as 1.0.0. */
    request->cni_version = string_field(config, "cniVersion");
    if (!request->cni_version || strncmp(request->cni_version, "0.", 2) == 0)
        request->cni_version = "1.0.0";
    request->address = string_field(config, "address");
    if (json_object_get(config, "address") && !request->address)
        return fail(error_message, HYDRA_ERR_INVALID_NETWORK_CONFIG, "invalid config: \"address\" must be a CIDR string");
    request->kind = string_field(config, "kind");
    if (!request->kind)
        request->kind = "dummy";
    if (strcmp(request->kind, "dummy") != 0 && strcmp(request->kind, "bridge") != 0
        && strcmp(request->kind, "ifb") != 0)
        return fail(error_message, HYDRA_ERR_INVALID_NETWORK_CONFIG,
                    "invalid config: \"kind\" \"%s\" must be \"dummy\", \"bridge\" or \"ifb\"", request->kind);
    if (json_object_get(config, "mtu")) {
        json_int_t mtu = json_integer_value(json_object_get(config, "mtu"));
        if (!json_is_integer(json_object_get(config, "mtu")) || mtu < 68 || mtu > 65535)
            return fail(error_message, HYDRA_ERR_INVALID_NETWORK_CONFIG,
                        "invalid config: \"mtu\" must be an integer from 68 to 65535");
        request->mtu = (int)mtu;
    }
    return HYDRA_OK;
}

/* ---- Namespace work on a dedicated thread ------------------------------- */

enum dummy_operation { OP_CREATE, OP_DELETE, OP_VERIFY };

struct namespace_job {
    enum dummy_operation operation;
    const char *netns;
    const char *if_name;
    const char *address;
    const char *kind;
    int mtu;
    /* Outputs. */
    uint32_t code;
    char *error_message;
    char mac[32];
};

static uint32_t job_fail(struct namespace_job *job, uint32_t code, const char *what, int nl_error)
{
    return job->code = fail(&job->error_message, code, "%s \"%s\" in %s: %s", what, job->if_name,
                            job->netns, nl_geterror(nl_error));
}

static void create_link(struct namespace_job *job, struct nl_sock *sock)
{
    struct rtnl_link *link = rtnl_link_alloc(), *created = NULL, *change = NULL;
    struct rtnl_addr *address = NULL;
    struct nl_addr *local = NULL;
    int error;

    rtnl_link_set_type(link, job->kind);
    rtnl_link_set_name(link, job->if_name);
    if (job->mtu)
        rtnl_link_set_mtu(link, (unsigned int)job->mtu);
    error = rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(link);
    if (error < 0) {
        /* A kernel without the driver of this link type answers EOPNOTSUPP,
         * which libnl reports as "Operation not supported". */
        job->code = fail(&job->error_message, DUMMY_ERR_NETLINK, "failed to create %s interface \"%s\" in %s: %s%s",
                         job->kind, job->if_name, job->netns, nl_geterror(error),
                         error == -NLE_OPNOTSUPP ? " (the kernel may lack this link type's driver; "
                                                   "set \"kind\" to \"bridge\" or \"ifb\")" : "");
        return;
    }

    error = rtnl_link_get_kernel(sock, 0, job->if_name, &created);
    if (error < 0) {
        job_fail(job, DUMMY_ERR_NETLINK, "failed to read back interface", error);
        goto undo;
    }
    if (job->address) {
        error = nl_addr_parse(job->address, AF_UNSPEC, &local);
        if (error < 0) {
            job->code = fail(&job->error_message, HYDRA_ERR_INVALID_NETWORK_CONFIG,
                             "invalid config: \"address\" %s is not a CIDR address: %s",
                             job->address, nl_geterror(error));
            goto undo;
        }
        address = rtnl_addr_alloc();
        rtnl_addr_set_ifindex(address, rtnl_link_get_ifindex(created));
        rtnl_addr_set_local(address, local);
        error = rtnl_addr_add(sock, address, 0);
        rtnl_addr_put(address);
        nl_addr_put(local);
        if (error < 0) {
            job_fail(job, DUMMY_ERR_NETLINK, "failed to add address to", error);
            goto undo;
        }
    }
    change = rtnl_link_alloc();
    rtnl_link_set_flags(change, IFF_UP);
    error = rtnl_link_change(sock, created, change, 0);
    rtnl_link_put(change);
    if (error < 0) {
        job_fail(job, DUMMY_ERR_NETLINK, "failed to set up interface", error);
        goto undo;
    }
    if (rtnl_link_get_addr(created))
        nl_addr2str(rtnl_link_get_addr(created), job->mac, sizeof job->mac);
    rtnl_link_put(created);
    return;

undo:
    /* A failed attach leaves nothing behind. */
    if (created)
        rtnl_link_put(created);
    link = rtnl_link_alloc();
    rtnl_link_set_name(link, job->if_name);
    rtnl_link_delete(sock, link);
    rtnl_link_put(link);
}

static void delete_link(struct namespace_job *job, struct nl_sock *sock)
{
    struct rtnl_link *link = rtnl_link_alloc();
    int error;
    rtnl_link_set_name(link, job->if_name);
    error = rtnl_link_delete(sock, link);
    rtnl_link_put(link);
    /* CNI DEL semantics: an interface that is already gone is success. */
    if (error < 0 && error != -NLE_OBJ_NOTFOUND && error != -NLE_NODEV)
        job_fail(job, DUMMY_ERR_NETLINK, "failed to delete interface", error);
}

static void verify_link(struct namespace_job *job, struct nl_sock *sock)
{
    struct rtnl_link *link = NULL;
    struct nl_cache *addresses = NULL;
    struct nl_object *object;
    int error, found = 0;

    error = rtnl_link_get_kernel(sock, 0, job->if_name, &link);
    if (error < 0) {
        job_fail(job, DUMMY_ERR_NETLINK, "interface not found:", error);
        return;
    }
    if (!rtnl_link_get_type(link) || strcmp(rtnl_link_get_type(link), job->kind) != 0) {
        job->code = fail(&job->error_message, DUMMY_ERR_NETLINK, "interface \"%s\" in %s is not a %s interface",
                         job->if_name, job->netns, job->kind);
        rtnl_link_put(link);
        return;
    }
    if (job->address) {
        error = rtnl_addr_alloc_cache(sock, &addresses);
        if (error < 0) {
            job_fail(job, DUMMY_ERR_NETLINK, "failed to list addresses of", error);
            rtnl_link_put(link);
            return;
        }
        for (object = nl_cache_get_first(addresses); object; object = nl_cache_get_next(object)) {
            struct rtnl_addr *address = (struct rtnl_addr *)object;
            char text[128];
            if (rtnl_addr_get_ifindex(address) != rtnl_link_get_ifindex(link) || !rtnl_addr_get_local(address))
                continue;
            nl_addr2str(rtnl_addr_get_local(address), text, sizeof text);
            if (strcmp(text, job->address) == 0)
                found = 1;
        }
        nl_cache_free(addresses);
        if (!found)
            job->code = fail(&job->error_message, DUMMY_ERR_NETLINK, "address %s is missing on \"%s\" in %s",
                             job->address, job->if_name, job->netns);
    }
    rtnl_link_put(link);
}

/* Thread body: enter the namespace, open a netlink socket there, do the job.
 * The thread exits afterwards, so it never has to return to the host namespace. */
static void *namespace_thread(void *argument)
{
    struct namespace_job *job = argument;
    struct nl_sock *sock;
    int fd = open(job->netns, O_RDONLY | O_CLOEXEC);
    int error;

    if (fd < 0) {
        job->code = fail(&job->error_message, HYDRA_ERR_INVALID_NETNS, "failed to open network namespace %s: %s",
                         job->netns, strerror(errno));
        return NULL;
    }
    if (setns(fd, CLONE_NEWNET) < 0) {
        job->code = fail(&job->error_message, HYDRA_ERR_INVALID_NETNS, "failed to enter network namespace %s: %s",
                         job->netns, strerror(errno));
        close(fd);
        return NULL;
    }
    close(fd);

    sock = nl_socket_alloc();
    if (!sock || (error = nl_connect(sock, NETLINK_ROUTE)) < 0) {
        job->code = fail(&job->error_message, DUMMY_ERR_NETLINK, "failed to open a netlink socket in %s",
                         job->netns);
        if (sock)
            nl_socket_free(sock);
        return NULL;
    }
    switch (job->operation) {
    case OP_CREATE: create_link(job, sock); break;
    case OP_DELETE: delete_link(job, sock); break;
    case OP_VERIFY: verify_link(job, sock); break;
    }
    nl_socket_free(sock);
    return NULL;
}

/* Runs job on a new thread and waits for it. */
static uint32_t run_in_namespace(struct namespace_job *job, char **error_message)
{
    pthread_t thread;
    int error = pthread_create(&thread, NULL, namespace_thread, job);
    if (error != 0)
        return fail(error_message, DUMMY_ERR_THREAD, "failed to start namespace thread: %s", strerror(error));
    pthread_join(thread, NULL);
    if (job->code != HYDRA_OK) {
        *error_message = job->error_message;
        return job->code;
    }
    free(job->error_message);
    return HYDRA_OK;
}

/* ---- State records ------------------------------------------------------ */

static void record_path(struct dummy_backend *backend, const char *sandbox_id, const char *if_name,
                        char *path, size_t size)
{
    snprintf(path, size, "%s/%s-%s.json", backend->state_dir, sandbox_id, if_name);
}

static int write_record(struct dummy_backend *backend, const struct dummy_request *request)
{
    char path[PATH_MAX];
    json_t *record = json_pack("{s:s, s:s, s:s}", "sandboxID", request->sandbox_id,
                               "ifName", request->if_name, "netns", request->netns);
    int result;
    record_path(backend, request->sandbox_id, request->if_name, path, sizeof path);
    result = json_dump_file(record, path, 0);
    json_decref(record);
    return result;
}

/* ---- ABI functions ------------------------------------------------------ */

static uint32_t dummy_init(const struct hydra_backend_v1 *table, const char *config_json,
                           const struct hydra_host_services_v1 *host, void **instance,
                           char **error_message)
{
    struct dummy_backend *backend;
    json_error_t json_error;
    json_t *config = json_loads(config_json ? config_json : "{}", 0, &json_error);
    (void)table;

    if (!json_is_object(config)) {
        json_decref(config);
        return fail(error_message, HYDRA_ERR_DECODING_FAILED, "invalid backend configuration: expected a JSON object");
    }
    json_decref(config);
    if (!host || !host->state_directory)
        return fail(error_message, HYDRA_ERR_INVALID_NETWORK_CONFIG, "the host passed no state directory");

    backend = calloc(1, sizeof *backend);
    if (!backend)
        return fail(error_message, HYDRA_ERR_IO_FAILURE, "out of memory");
    backend->host = host;
    snprintf(backend->state_dir, sizeof backend->state_dir, "%s", host->state_directory);
    *instance = backend;
    log_line(backend, HYDRA_LOG_INFO, NULL, "dummy backend started, state directory %s", backend->state_dir);
    return HYDRA_OK;
}

static uint32_t dummy_attach(void *instance, const char *request_json, int64_t deadline_ns,
                             char **result_json, char **error_message)
{
    struct dummy_backend *backend = instance;
    struct dummy_request request;
    struct namespace_job job = {0};
    json_t *result;
    uint32_t code = parse_request(request_json, &request, error_message);

    if (code != HYDRA_OK)
        goto out;
    if (deadline_passed(deadline_ns)) {
        code = fail(error_message, HYDRA_ERR_TRY_AGAIN_LATER, "deadline passed before attach started");
        goto out;
    }
    if (!*request.netns) {
        code = fail(error_message, HYDRA_ERR_INVALID_NETNS, "invalid request: attach needs \"netns\"");
        goto out;
    }

    job.operation = OP_CREATE;
    job.netns = request.netns;
    job.if_name = request.if_name;
    job.address = request.address;
    job.kind = request.kind;
    job.mtu = request.mtu;
    code = run_in_namespace(&job, error_message);
    if (code != HYDRA_OK)
        goto out;

    if (write_record(backend, &request) != 0)
        log_line(backend, HYDRA_LOG_WARNING, request.sandbox_id,
                 "failed to write state record for %s; gc will not find it", request.if_name);

    result = json_pack("{s:s, s:[{s:s, s:s, s:s}], s:[], s:[], s:{}}",
                       "cniVersion", request.cni_version,
                       "interfaces", "name", request.if_name, "mac", job.mac, "sandbox", request.netns,
                       "ips", "routes", "dns");
    if (request.address)
        json_array_append_new(json_object_get(result, "ips"),
                              json_pack("{s:s, s:i}", "address", request.address, "interface", 0));
    *result_json = json_dumps(result, JSON_COMPACT);
    json_decref(result);
    log_line(backend, HYDRA_LOG_INFO, request.sandbox_id, "created %s interface %s in %s",
             request.kind, request.if_name, request.netns);
out:
    json_decref(request.root);
    return code;
}

static uint32_t dummy_detach(void *instance, const char *request_json, int64_t deadline_ns,
                             char **error_message)
{
    struct dummy_backend *backend = instance;
    struct dummy_request request;
    struct namespace_job job = {0};
    char path[PATH_MAX];
    uint32_t code = parse_request(request_json, &request, error_message);
    (void)deadline_ns;

    if (code != HYDRA_OK)
        goto out;
    /* The namespace may be gone already; then so is the interface. */
    if (*request.netns && access(request.netns, F_OK) == 0) {
        job.operation = OP_DELETE;
        job.netns = request.netns;
        job.if_name = request.if_name;
        code = run_in_namespace(&job, error_message);
        if (code == HYDRA_ERR_INVALID_NETNS) {
            /* The namespace vanished between the check and the call. */
            free(*error_message);
            *error_message = NULL;
            code = HYDRA_OK;
        }
        if (code != HYDRA_OK)
            goto out;
    }
    record_path(backend, request.sandbox_id, request.if_name, path, sizeof path);
    unlink(path);
out:
    json_decref(request.root);
    return code;
}

static uint32_t dummy_check(void *instance, const char *request_json, int64_t deadline_ns,
                            char **error_message)
{
    struct dummy_request request;
    struct namespace_job job = {0};
    uint32_t code = parse_request(request_json, &request, error_message);
    (void)instance;
    (void)deadline_ns;

    if (code == HYDRA_OK) {
        job.operation = OP_VERIFY;
        job.netns = request.netns;
        job.if_name = request.if_name;
        job.address = request.address;
        job.kind = request.kind;
        code = run_in_namespace(&job, error_message);
    }
    json_decref(request.root);
    return code;
}

/* Whether gc_request's "validAttachments" lists sandbox_id with if_name. */
static int is_listed(json_t *valid, const char *sandbox_id, const char *if_name)
{
    size_t index;
    json_t *entry;
    json_array_foreach(valid, index, entry) {
        const char *listed_sandbox = string_field(entry, "sandboxID");
        const char *listed_if = string_field(entry, "ifName");
        if (listed_sandbox && listed_if && strcmp(listed_sandbox, sandbox_id) == 0
            && strcmp(listed_if, if_name) == 0)
            return 1;
    }
    return 0;
}

static uint32_t dummy_gc(void *instance, const char *gc_request_json, int64_t deadline_ns,
                         char **error_message)
{
    struct dummy_backend *backend = instance;
    json_error_t json_error;
    json_t *request = json_loads(gc_request_json ? gc_request_json : "", 0, &json_error);
    json_t *valid = json_object_get(request, "validAttachments");
    DIR *directory;
    struct dirent *entry;
    (void)deadline_ns;

    if (!json_is_array(valid)) {
        json_decref(request);
        return fail(error_message, HYDRA_ERR_DECODING_FAILED,
                    "invalid GC request: expected {\"validAttachments\": [...]}");
    }
    directory = opendir(backend->state_dir);
    if (!directory) {
        json_decref(request);
        return fail(error_message, HYDRA_ERR_IO_FAILURE, "failed to open state directory %s: %s",
                    backend->state_dir, strerror(errno));
    }
    while ((entry = readdir(directory)) != NULL) {
        char path[PATH_MAX];
        json_t *record;
        const char *sandbox_id, *if_name, *netns;
        size_t length = strlen(entry->d_name);
        if (length < 5 || strcmp(entry->d_name + length - 5, ".json") != 0)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", backend->state_dir, entry->d_name) >= (int)sizeof path)
            continue;
        record = json_load_file(path, 0, &json_error);
        sandbox_id = string_field(record, "sandboxID");
        if_name = string_field(record, "ifName");
        netns = string_field(record, "netns");
        if (sandbox_id && if_name && netns && !is_listed(valid, sandbox_id, if_name)) {
            struct namespace_job job = {0};
            char *message = NULL;
            if (*netns && access(netns, F_OK) == 0) {
                job.operation = OP_DELETE;
                job.netns = netns;
                job.if_name = if_name;
                if (run_in_namespace(&job, &message) != HYDRA_OK)
                    log_line(backend, HYDRA_LOG_WARNING, sandbox_id, "gc: %s", message ? message : "failed");
                free(message);
            }
            unlink(path);
            log_line(backend, HYDRA_LOG_INFO, sandbox_id, "gc: released %s in %s", if_name, netns);
        }
        json_decref(record);
    }
    closedir(directory);
    json_decref(request);
    return HYDRA_OK;
}

static void dummy_shutdown(void *instance)
{
    free(instance);
}

static void dummy_free_string(char *string)
{
    free(string);
}

static const char *const dummy_types[] = {"dummy", NULL};

static const struct hydra_backend_v1 dummy_table = {
    .abi_version = HYDRA_BACKEND_ABI_VERSION,
    .struct_size = sizeof(struct hydra_backend_v1),
    .name = "dummy",
    .version = "1.0.0",
    .types = dummy_types,
    .flags = HYDRA_BACKEND_THREAD_SAFE,
    .init = dummy_init,
    .attach = dummy_attach,
    .detach = dummy_detach,
    .check = dummy_check,
    .gc = dummy_gc,
    .shutdown = dummy_shutdown,
    .free_string = dummy_free_string,
};

__attribute__((visibility("default")))
const struct hydra_backend_v1 *hydra_backend_entry(void)
{
    return &dummy_table;
}
