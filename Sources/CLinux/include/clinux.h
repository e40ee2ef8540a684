#ifndef HYDRA_CLINUX_H
#define HYDRA_CLINUX_H
// Linux calls and constants that Swift's Glibc module does not expose,
// because they need _GNU_SOURCE or come from macros Swift cannot import.

int hydra_setns(int fd, int nstype);
int hydra_clone_newnet(void);

/// Returns the namespace type of a namespace file (ioctl NS_GET_NSTYPE,
/// a CLONE_NEW* value), or -1 with errno set.
int hydra_ns_get_nstype(int fd);

/// Returns the magic number of the file system holding `fd` (fstatfs
/// f_type), or -1 with errno set. Namespace files live on nsfs.
long hydra_fs_type(int fd);

/// The file system magic of nsfs (NSFS_MAGIC from linux/magic.h).
long hydra_nsfs_magic(void);

/// Returns the kernel thread id of the calling thread (gettid).
int hydra_gettid(void);

/// Creates a pipe whose both ends are close-on-exec (pipe2 O_CLOEXEC), so
/// that programs spawned concurrently by other threads don't inherit them.
int hydra_pipe_cloexec(int fds[2]);

#endif
