/*
 * The BackendAPI target is a header only. SwiftPM needs one source file per C
 * target, so this file holds compile-time checks of the ABI instead: they fail
 * the build if a change to hydra_backend.h moves a field that hosts of older
 * versions read before they check the version.
 */
#include <stddef.h>
#include "hydra_backend.h"

_Static_assert(offsetof(struct hydra_backend_v1, abi_version) == 0,
               "abi_version must stay the first field of every table version");
_Static_assert(offsetof(struct hydra_backend_v1, struct_size) == 4,
               "struct_size must stay the second field of every table version");
_Static_assert(HYDRA_BACKEND_ABI_VERSION == 1,
               "a new ABI version needs a new table type (struct hydra_backend_v2)");
