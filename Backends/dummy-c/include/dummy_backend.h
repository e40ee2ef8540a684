/*
 * Error codes of the dummy backend, in the range hydra_backend.h leaves to
 * backends (100..999). The backend exports only hydra_backend_entry.
 */
#ifndef HYDRA_DUMMY_BACKEND_H
#define HYDRA_DUMMY_BACKEND_H

/** A netlink request failed; the message carries libnl's error text. */
#define DUMMY_ERR_NETLINK 100u
/** The backend could not start its namespace thread. */
#define DUMMY_ERR_THREAD 101u

#endif
