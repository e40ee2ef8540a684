#define _GNU_SOURCE
#include <sched.h>
#include "clinux.h"

int hydra_setns(int fd, int nstype) { return setns(fd, nstype); }
int hydra_clone_newnet(void) { return CLONE_NEWNET; }
