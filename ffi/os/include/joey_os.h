/* SPDX-License-Identifier: Apache-2.0 */
/*
 * joey_os: the few Linux system calls Deno has no API for, shaped for FFI
 * (plain integers, byte buffers, NUL-separated string lists). Every function
 * returns a non-negative result or a negative errno; none prints or exits.
 * Calls marked "blocks" are declared nonblocking on the Deno side so they
 * run on a worker thread; each of them can be woken through a cancel fd (an
 * eventfd made by joey_os__eventfd) so a caller never leaves a thread stuck.
 */
#ifndef JOEY_OS_H
#define JOEY_OS_H

#include <stddef.h>
#include <stdint.h>

/* Process attributes and signals. */
int joey_os__set_subreaper(void);
int joey_os__kill(int pid, int sig);

/* File descriptors. */
int joey_os__close(int fd);
int joey_os__eventfd(void);
int joey_os__eventfd_signal(int efd);
int joey_os__pipe(int32_t *fds);
int joey_os__set_nonblock(int fd);
int joey_os__open(const char *path, int flags, int mode);
int joey_os__read(int fd, int cancel_fd, uint8_t *buf, size_t len);        /* blocks */
int joey_os__write(int fd, int cancel_fd, const uint8_t *buf, size_t len); /* blocks */

/* Child processes: spawn with chosen stdio; reap by pidfd. */
int joey_os__spawn(const char *argv, const char *envp, int fd_in, int fd_out, int fd_err);

struct joey_reaper;
int joey_reaper__new(struct joey_reaper **out);
int joey_reaper__watch(struct joey_reaper *r, int pid);
int joey_reaper__wait(struct joey_reaper *r, int32_t *out, int max);       /* blocks */
int joey_reaper__wake(struct joey_reaper *r);
void joey_reaper__free(struct joey_reaper *r);

/* The I/O loop: copies between fds and watches eventfds on one thread. */
struct joey_io;
int joey_io__new(struct joey_io **out);
int joey_io__copy(struct joey_io *io, int src, int dst);
int joey_io__watch(struct joey_io *io, int efd);
int joey_io__cancel(struct joey_io *io, int id);
int joey_io__next(struct joey_io *io, int32_t *out, int max);              /* blocks */
int joey_io__wake(struct joey_io *io);
void joey_io__free(struct joey_io *io);

/* Terminals: the OCI runtime's console socket, and window size. */
int joey_os__console_listen(const char *path);
int joey_os__console_recv(int listen_fd, int cancel_fd);                   /* blocks */
int joey_os__pty_resize(int fd, int rows, int cols);

/* Mounts. */
int joey_os__mount(const char *source, const char *target, const char *fstype, uint64_t flags,
		   const char *data);
int joey_os__umount(const char *target, int flags);

/* cgroup v1 memory OOM notification: an eventfd that counts OOM events. */
int joey_os__oom_eventfd_v1(const char *memory_cgroup_dir);

#endif
