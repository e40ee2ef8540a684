#define _GNU_SOURCE
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <fcntl.h>
#include <unistd.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include "clinux.h"

int hydra_setns(int fd, int nstype) { return setns(fd, nstype); }
int hydra_clone_newnet(void) { return CLONE_NEWNET; }

int hydra_ns_get_nstype(int fd) { return ioctl(fd, NS_GET_NSTYPE); }

long hydra_fs_type(int fd) {
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return -1;
    return (long)st.f_type;
}

long hydra_nsfs_magic(void) { return NSFS_MAGIC; }

int hydra_gettid(void) { return (int)gettid(); }

int hydra_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
