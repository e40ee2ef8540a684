#ifndef HYDRA_CMICROHTTPD_SHIM_H
#define HYDRA_CMICROHTTPD_SHIM_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <microhttpd.h>

/*
 * Typed wrappers for libmicrohttpd's variadic calls. Swift cannot call C
 * variadic functions, and MHD_start_daemon reads its options as a list of
 * (enum MHD_OPTION, value) pairs ended by MHD_OPTION_END, each value read
 * with va_arg as the type the option documents.
 */

/** Request handler with the MHD_AccessHandlerCallback signature. */
typedef enum MHD_Result (*hydra_mhd_handler)(void *context, struct MHD_Connection *connection,
                                             const char *url, const char *method, const char *version,
                                             const char *upload_data, size_t *upload_data_size,
                                             void **request_context);

/**
 * MHD_start_daemon with its own polling thread, bound to `address`
 * (MHD_OPTION_SOCK_ADDR, which must stay valid only for the call), with a
 * connection limit and a per-connection idle timeout in seconds. `ipv6`
 * adds MHD_USE_IPv6, which MHD needs to accept an AF_INET6 address.
 * Returns NULL when the daemon could not start (for example, the address is in use).
 */
static inline struct MHD_Daemon *hydra_mhd_start(const struct sockaddr *address, int ipv6,
                                                 unsigned int connection_limit,
                                                 unsigned int timeout_seconds,
                                                 hydra_mhd_handler handler, void *context) {
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ipv6) {
        flags |= MHD_USE_IPv6;
    }
    /* The port argument is ignored when MHD_OPTION_SOCK_ADDR is given. */
    return MHD_start_daemon(flags, 0, NULL, NULL, handler, context,
                            MHD_OPTION_SOCK_ADDR, address,
                            MHD_OPTION_CONNECTION_LIMIT, connection_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout_seconds,
                            MHD_OPTION_END);
}

/** MHD_create_response_from_buffer with MHD_RESPMEM_MUST_COPY: MHD copies `size` bytes of `data`. */
static inline struct MHD_Response *hydra_mhd_response_copying(size_t size, const void *data) {
    return MHD_create_response_from_buffer(size, (void *)data, MHD_RESPMEM_MUST_COPY);
}

/** The port the daemon listens on (MHD_get_daemon_info with MHD_DAEMON_INFO_BIND_PORT), 0 if unknown. */
static inline uint16_t hydra_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

#endif
