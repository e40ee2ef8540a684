#ifndef HYDRA_CLINUX_H
#define HYDRA_CLINUX_H
// Linux calls and constants that Swift's Glibc module does not expose,
// because they need _GNU_SOURCE.

int hydra_setns(int fd, int nstype);
int hydra_clone_newnet(void);

#endif
